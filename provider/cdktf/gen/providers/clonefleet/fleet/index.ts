// https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface FleetConfig extends cdktf.TerraformMetaArguments {
  /**
  * How members' disks are made: `pool` (a ready pool copy when there is one, else a full copy), `full` or `linked`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#clone_mode Fleet#clone_mode}
  */
  readonly cloneMode?: string;
  /**
  * Datastores new members are placed on (1–64); a change applies to members added from then on.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#datastore_ids Fleet#datastore_ids}
  */
  readonly datastoreIds: string[];
  /**
  * Hosts members may live on, spread by how many members and running VMs each has (a member on a host's own datastore goes to that host). Unset: every host that is up at an apply. A change applies to members added from then on; changed in place.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#host_ids Fleet#host_ids}
  */
  readonly hostIds?: string[];
  /**
  * Leave it unset. The provider reports false when a member is missing or its disk vanished; the next plan then shows it going back to true, and the apply makes the missing members again.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#members_healthy Fleet#members_healthy}
  */
  readonly membersHealthy?: boolean | cdktf.IResolvable;
  /**
  * Members are named `<name_prefix>-<n>` (default: the template's name).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#name_prefix Fleet#name_prefix}
  */
  readonly namePrefix?: string;
  /**
  * `running` powers every member on after each apply; `stopped` (default) leaves members as they are. Changed in place. A `running` fleet with a member whose QEMU process died reads `stopped`, so the next apply powers it on again.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#power_state Fleet#power_state}
  */
  readonly powerState?: string;
  /**
  * Members wanted (0–1024); growing adds members, shrinking removes the newest.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#size Fleet#size}
  */
  readonly size: number;
  /**
  * Template the members are cloned from.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#template_id Fleet#template_id}
  */
  readonly templateId: string;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#timeouts Fleet#timeouts}
  */
  readonly timeouts?: FleetTimeouts;
}
export interface FleetVms {
}

export function fleetVmsToTerraform(struct?: FleetVms): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
  }
}


export function fleetVmsToHclTerraform(struct?: FleetVms): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
  };
  return attrs;
}

export class FleetVmsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): FleetVms | undefined {
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: FleetVms | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
    }
  }

  // datastore_id - computed: true, optional: false, required: false
  public get datastoreId() {
    return this.getStringAttribute('datastore_id');
  }

  // disk_path - computed: true, optional: false, required: false
  public get diskPath() {
    return this.getStringAttribute('disk_path');
  }

  // host_id - computed: true, optional: false, required: false
  public get hostId() {
    return this.getStringAttribute('host_id');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // name - computed: true, optional: false, required: false
  public get name() {
    return this.getStringAttribute('name');
  }

  // provisioned_by - computed: true, optional: false, required: false
  public get provisionedBy() {
    return this.getStringAttribute('provisioned_by');
  }
}

export class FleetVmsList extends cdktf.ComplexList {

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): FleetVmsOutputReference {
    return new FleetVmsOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface FleetTimeouts {
  /**
  * How long to wait for create before giving up, as a duration such as "30s", "20m" or "1h" (default 30m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#create Fleet#create}
  */
  readonly create?: string;
  /**
  * How long to wait for delete before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#delete Fleet#delete}
  */
  readonly delete?: string;
  /**
  * How long to wait for update before giving up, as a duration such as "30s", "20m" or "1h" (default 30m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#update Fleet#update}
  */
  readonly update?: string;
}

export function fleetTimeoutsToTerraform(struct?: FleetTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
    update: cdktf.stringToTerraform(struct!.update),
  }
}


export function fleetTimeoutsToHclTerraform(struct?: FleetTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    create: {
      value: cdktf.stringToHclTerraform(struct!.create),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    delete: {
      value: cdktf.stringToHclTerraform(struct!.delete),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    update: {
      value: cdktf.stringToHclTerraform(struct!.update),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class FleetTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): FleetTimeouts | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._create !== undefined) {
      hasAnyValues = true;
      internalValueResult.create = this._create;
    }
    if (this._delete !== undefined) {
      hasAnyValues = true;
      internalValueResult.delete = this._delete;
    }
    if (this._update !== undefined) {
      hasAnyValues = true;
      internalValueResult.update = this._update;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: FleetTimeouts | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._create = undefined;
      this._delete = undefined;
      this._update = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._create = value.create;
      this._delete = value.delete;
      this._update = value.update;
    }
  }

  // create - computed: false, optional: true, required: false
  private _create?: string; 
  public get create() {
    return this.getStringAttribute('create');
  }
  public set create(value: string) {
    this._create = value;
  }
  public resetCreate() {
    this._create = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get createInput() {
    return this._create;
  }

  // delete - computed: false, optional: true, required: false
  private _delete?: string; 
  public get delete() {
    return this.getStringAttribute('delete');
  }
  public set delete(value: string) {
    this._delete = value;
  }
  public resetDelete() {
    this._delete = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get deleteInput() {
    return this._delete;
  }

  // update - computed: false, optional: true, required: false
  private _update?: string; 
  public get update() {
    return this.getStringAttribute('update');
  }
  public set update(value: string) {
    this._update = value;
  }
  public resetUpdate() {
    this._update = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get updateInput() {
    return this._update;
  }
}

/**
* Represents a {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet clonefleet_fleet}
*/
export class Fleet extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "clonefleet_fleet";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Fleet resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Fleet to import
  * @param importFromId The id of the existing Fleet that should be imported. Refer to the {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Fleet to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "clonefleet_fleet", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/fleet clonefleet_fleet} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options FleetConfig
  */
  public constructor(scope: Construct, id: string, config: FleetConfig) {
    super(scope, id, {
      terraformResourceType: 'clonefleet_fleet',
      terraformGeneratorMetadata: {
        providerName: 'clonefleet',
        providerVersionConstraint: '~> 0.1'
      },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach
    });
    this._cloneMode = config.cloneMode;
    this._datastoreIds = config.datastoreIds;
    this._hostIds = config.hostIds;
    this._membersHealthy = config.membersHealthy;
    this._namePrefix = config.namePrefix;
    this._powerState = config.powerState;
    this._size = config.size;
    this._templateId = config.templateId;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // clone_mode - computed: true, optional: true, required: false
  private _cloneMode?: string; 
  public get cloneMode() {
    return this.getStringAttribute('clone_mode');
  }
  public set cloneMode(value: string) {
    this._cloneMode = value;
  }
  public resetCloneMode() {
    this._cloneMode = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cloneModeInput() {
    return this._cloneMode;
  }

  // datastore_ids - computed: false, optional: false, required: true
  private _datastoreIds?: string[]; 
  public get datastoreIds() {
    return this.getListAttribute('datastore_ids');
  }
  public set datastoreIds(value: string[]) {
    this._datastoreIds = value;
  }
  // Temporarily expose input value. Use with caution.
  public get datastoreIdsInput() {
    return this._datastoreIds;
  }

  // host_ids - computed: false, optional: true, required: false
  private _hostIds?: string[]; 
  public get hostIds() {
    return this.getListAttribute('host_ids');
  }
  public set hostIds(value: string[]) {
    this._hostIds = value;
  }
  public resetHostIds() {
    this._hostIds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostIdsInput() {
    return this._hostIds;
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // members_healthy - computed: true, optional: true, required: false
  private _membersHealthy?: boolean | cdktf.IResolvable; 
  public get membersHealthy() {
    return this.getBooleanAttribute('members_healthy');
  }
  public set membersHealthy(value: boolean | cdktf.IResolvable) {
    this._membersHealthy = value;
  }
  public resetMembersHealthy() {
    this._membersHealthy = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get membersHealthyInput() {
    return this._membersHealthy;
  }

  // members_running - computed: true, optional: false, required: false
  public get membersRunning() {
    return this.getNumberAttribute('members_running');
  }

  // name_prefix - computed: true, optional: true, required: false
  private _namePrefix?: string; 
  public get namePrefix() {
    return this.getStringAttribute('name_prefix');
  }
  public set namePrefix(value: string) {
    this._namePrefix = value;
  }
  public resetNamePrefix() {
    this._namePrefix = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get namePrefixInput() {
    return this._namePrefix;
  }

  // power_state - computed: true, optional: true, required: false
  private _powerState?: string; 
  public get powerState() {
    return this.getStringAttribute('power_state');
  }
  public set powerState(value: string) {
    this._powerState = value;
  }
  public resetPowerState() {
    this._powerState = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get powerStateInput() {
    return this._powerState;
  }

  // size - computed: false, optional: false, required: true
  private _size?: number; 
  public get size() {
    return this.getNumberAttribute('size');
  }
  public set size(value: number) {
    this._size = value;
  }
  // Temporarily expose input value. Use with caution.
  public get sizeInput() {
    return this._size;
  }

  // template_id - computed: false, optional: false, required: true
  private _templateId?: string; 
  public get templateId() {
    return this.getStringAttribute('template_id');
  }
  public set templateId(value: string) {
    this._templateId = value;
  }
  // Temporarily expose input value. Use with caution.
  public get templateIdInput() {
    return this._templateId;
  }

  // vms - computed: true, optional: false, required: false
  private _vms = new FleetVmsList(this, "vms", false);
  public get vms() {
    return this._vms;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new FleetTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: FleetTimeouts) {
    this._timeouts.internalValue = value;
  }
  public resetTimeouts() {
    this._timeouts.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get timeoutsInput() {
    return this._timeouts.internalValue;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      clone_mode: cdktf.stringToTerraform(this._cloneMode),
      datastore_ids: cdktf.listMapper(cdktf.stringToTerraform, false)(this._datastoreIds),
      host_ids: cdktf.listMapper(cdktf.stringToTerraform, false)(this._hostIds),
      members_healthy: cdktf.booleanToTerraform(this._membersHealthy),
      name_prefix: cdktf.stringToTerraform(this._namePrefix),
      power_state: cdktf.stringToTerraform(this._powerState),
      size: cdktf.numberToTerraform(this._size),
      template_id: cdktf.stringToTerraform(this._templateId),
      timeouts: fleetTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      clone_mode: {
        value: cdktf.stringToHclTerraform(this._cloneMode),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      datastore_ids: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._datastoreIds),
        isBlock: false,
        type: "list",
        storageClassType: "stringList",
      },
      host_ids: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._hostIds),
        isBlock: false,
        type: "list",
        storageClassType: "stringList",
      },
      members_healthy: {
        value: cdktf.booleanToHclTerraform(this._membersHealthy),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      name_prefix: {
        value: cdktf.stringToHclTerraform(this._namePrefix),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      power_state: {
        value: cdktf.stringToHclTerraform(this._powerState),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      size: {
        value: cdktf.numberToHclTerraform(this._size),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      template_id: {
        value: cdktf.stringToHclTerraform(this._templateId),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      timeouts: {
        value: fleetTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "FleetTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
