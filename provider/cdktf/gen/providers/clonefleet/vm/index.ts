// https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface VmConfig extends cdktf.TerraformMetaArguments {
  /**
  * How the disk is made: `pool` (a ready pool copy moved in when there is one, else a full copy), `full` (always a full copy) or `linked` (a qcow2 overlay on the template's disk; the VM must be on the template's datastore). Only for a clone of a template: unset (null) for a fork or an instant clone, whose disk comes from its parent.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#clone_mode Vm#clone_mode}
  */
  readonly cloneMode?: string;
  /**
  * Datastore for the VM's disk (default: the template's). Only for a clone of a template: null for a fork or an instant clone, whose disk stays beside its parent's (`disk_path` says where).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#datastore_id Vm#datastore_id}
  */
  readonly datastoreId?: string;
  /**
  * Id of a VM to fork instead of cloning a template: a running VM is stunned for a moment and the child starts where the parent was; a stopped one forks its disks only. Exactly one of `template_id` and `fork_of` is set.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#fork_of Vm#fork_of}
  */
  readonly forkOf?: string;
  /**
  * Restart the VM on another host when its host is lost, once that host is fenced (judged down and no process holding the VM's disk); its disk must be on a shared datastore. Default false. Changed in place.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#ha_restart Vm#ha_restart}
  */
  readonly haRestart?: boolean | cdktf.IResolvable;
  /**
  * Host (engine agent) whose QEMU runs the VM; default: the host of the engine the provider talks to. A change is an in-place live migration of the running VM to that host (the apply waits for the `vm.migrate` job); a stopped VM is started first when `power_state` is `running`, and refused when it is to stay stopped (only a running VM migrates). A VM found on another host than the one declared shows as a change, and the apply moves it back. Left unset, it reads the host the VM is on.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#host_id Vm#host_id}
  */
  readonly hostId?: string;
  /**
  * Id of a `clonefleet_instant_clone_parent` to start this VM from instead: no boot, it continues where the parent was captured, on its own overlay on the parent's frozen disk, its RAM shared copy-on-write with the parent's other clones. Set `power_state = "running"` with it. An instant clone removed outside Terraform is cloned again. Excludes `template_id` and `fork_of`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#instant_clone_of Vm#instant_clone_of}
  */
  readonly instantCloneOf?: string;
  /**
  * Seconds the guest gets to acknowledge a migration notice on its `org.clonefleet.notify.0` channel before the engine applies `migration_on_missing_ack`; 0 (default) migrates without notice. From 0 to 3600. Changed in place.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#migration_notify_timeout_seconds Vm#migration_notify_timeout_seconds}
  */
  readonly migrationNotifyTimeoutSeconds?: number;
  /**
  * What a migration does when the guest has not acknowledged by the deadline: `abort` (the VM stays where it is and the apply fails) or `proceed` (default: it migrates anyway). Changed in place.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#migration_on_missing_ack Vm#migration_on_missing_ack}
  */
  readonly migrationOnMissingAck?: string;
  /**
  * Unique VM name: letters, digits, '.', '_', '-'; at most 63 characters.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#name Vm#name}
  */
  readonly name: string;
  /**
  * `running` or `stopped` (default); changed in place by powering the VM on or off. A VM whose QEMU process died reads `stopped`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#power_state Vm#power_state}
  */
  readonly powerState?: string;
  /**
  * Seconds a stop (power_state `stopped`) waits for the guest to power off (ACPI) before QEMU quits, 0 to 3600; unset uses the engine's default (30). Set it low for firmware-only VMs, which ignore ACPI. Changed in place.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#stop_timeout_seconds Vm#stop_timeout_seconds}
  */
  readonly stopTimeoutSeconds?: number;
  /**
  * Template to clone. Exactly one of `template_id` and `fork_of` is set.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#template_id Vm#template_id}
  */
  readonly templateId?: string;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#timeouts Vm#timeouts}
  */
  readonly timeouts?: VmTimeouts;
}
export interface VmDiskChain {
}

export function vmDiskChainToTerraform(struct?: VmDiskChain): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
  }
}


export function vmDiskChainToHclTerraform(struct?: VmDiskChain): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
  };
  return attrs;
}

export class VmDiskChainOutputReference extends cdktf.ComplexObject {
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

  public get internalValue(): VmDiskChain | undefined {
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: VmDiskChain | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
    }
  }

  // content_id - computed: true, optional: false, required: false
  public get contentId() {
    return this.getStringAttribute('content_id');
  }

  // path - computed: true, optional: false, required: false
  public get path() {
    return this.getStringAttribute('path');
  }
}

export class VmDiskChainList extends cdktf.ComplexList {

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
  public get(index: number): VmDiskChainOutputReference {
    return new VmDiskChainOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface VmTimeouts {
  /**
  * How long to wait for create before giving up, as a duration such as "30s", "20m" or "1h" (default 30m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#create Vm#create}
  */
  readonly create?: string;
  /**
  * How long to wait for delete before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#delete Vm#delete}
  */
  readonly delete?: string;
  /**
  * How long to wait for update before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#update Vm#update}
  */
  readonly update?: string;
}

export function vmTimeoutsToTerraform(struct?: VmTimeouts | cdktf.IResolvable): any {
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


export function vmTimeoutsToHclTerraform(struct?: VmTimeouts | cdktf.IResolvable): any {
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

export class VmTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): VmTimeouts | cdktf.IResolvable | undefined {
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

  public set internalValue(value: VmTimeouts | cdktf.IResolvable | undefined) {
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
* Represents a {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm clonefleet_vm}
*/
export class Vm extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "clonefleet_vm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Vm resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Vm to import
  * @param importFromId The id of the existing Vm that should be imported. Refer to the {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Vm to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "clonefleet_vm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/vm clonefleet_vm} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options VmConfig
  */
  public constructor(scope: Construct, id: string, config: VmConfig) {
    super(scope, id, {
      terraformResourceType: 'clonefleet_vm',
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
    this._datastoreId = config.datastoreId;
    this._forkOf = config.forkOf;
    this._haRestart = config.haRestart;
    this._hostId = config.hostId;
    this._instantCloneOf = config.instantCloneOf;
    this._migrationNotifyTimeoutSeconds = config.migrationNotifyTimeoutSeconds;
    this._migrationOnMissingAck = config.migrationOnMissingAck;
    this._name = config.name;
    this._powerState = config.powerState;
    this._stopTimeoutSeconds = config.stopTimeoutSeconds;
    this._templateId = config.templateId;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // chain_depth - computed: true, optional: false, required: false
  public get chainDepth() {
    return this.getNumberAttribute('chain_depth');
  }

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

  // datastore_id - computed: true, optional: true, required: false
  private _datastoreId?: string; 
  public get datastoreId() {
    return this.getStringAttribute('datastore_id');
  }
  public set datastoreId(value: string) {
    this._datastoreId = value;
  }
  public resetDatastoreId() {
    this._datastoreId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get datastoreIdInput() {
    return this._datastoreId;
  }

  // disk_chain - computed: true, optional: false, required: false
  private _diskChain = new VmDiskChainList(this, "disk_chain", false);
  public get diskChain() {
    return this._diskChain;
  }

  // disk_path - computed: true, optional: false, required: false
  public get diskPath() {
    return this.getStringAttribute('disk_path');
  }

  // fork_of - computed: false, optional: true, required: false
  private _forkOf?: string; 
  public get forkOf() {
    return this.getStringAttribute('fork_of');
  }
  public set forkOf(value: string) {
    this._forkOf = value;
  }
  public resetForkOf() {
    this._forkOf = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get forkOfInput() {
    return this._forkOf;
  }

  // forked_from - computed: true, optional: false, required: false
  public get forkedFrom() {
    return this.getStringAttribute('forked_from');
  }

  // ha_restart - computed: true, optional: true, required: false
  private _haRestart?: boolean | cdktf.IResolvable; 
  public get haRestart() {
    return this.getBooleanAttribute('ha_restart');
  }
  public set haRestart(value: boolean | cdktf.IResolvable) {
    this._haRestart = value;
  }
  public resetHaRestart() {
    this._haRestart = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get haRestartInput() {
    return this._haRestart;
  }

  // host_id - computed: true, optional: true, required: false
  private _hostId?: string; 
  public get hostId() {
    return this.getStringAttribute('host_id');
  }
  public set hostId(value: string) {
    this._hostId = value;
  }
  public resetHostId() {
    this._hostId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get hostIdInput() {
    return this._hostId;
  }

  // host_state - computed: true, optional: false, required: false
  public get hostState() {
    return this.getStringAttribute('host_state');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // instant_clone_of - computed: false, optional: true, required: false
  private _instantCloneOf?: string; 
  public get instantCloneOf() {
    return this.getStringAttribute('instant_clone_of');
  }
  public set instantCloneOf(value: string) {
    this._instantCloneOf = value;
  }
  public resetInstantCloneOf() {
    this._instantCloneOf = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get instantCloneOfInput() {
    return this._instantCloneOf;
  }

  // migration_notify_timeout_seconds - computed: true, optional: true, required: false
  private _migrationNotifyTimeoutSeconds?: number; 
  public get migrationNotifyTimeoutSeconds() {
    return this.getNumberAttribute('migration_notify_timeout_seconds');
  }
  public set migrationNotifyTimeoutSeconds(value: number) {
    this._migrationNotifyTimeoutSeconds = value;
  }
  public resetMigrationNotifyTimeoutSeconds() {
    this._migrationNotifyTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get migrationNotifyTimeoutSecondsInput() {
    return this._migrationNotifyTimeoutSeconds;
  }

  // migration_on_missing_ack - computed: true, optional: true, required: false
  private _migrationOnMissingAck?: string; 
  public get migrationOnMissingAck() {
    return this.getStringAttribute('migration_on_missing_ack');
  }
  public set migrationOnMissingAck(value: string) {
    this._migrationOnMissingAck = value;
  }
  public resetMigrationOnMissingAck() {
    this._migrationOnMissingAck = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get migrationOnMissingAckInput() {
    return this._migrationOnMissingAck;
  }

  // name - computed: false, optional: false, required: true
  private _name?: string; 
  public get name() {
    return this.getStringAttribute('name');
  }
  public set name(value: string) {
    this._name = value;
  }
  // Temporarily expose input value. Use with caution.
  public get nameInput() {
    return this._name;
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

  // provisioned_by - computed: true, optional: false, required: false
  public get provisionedBy() {
    return this.getStringAttribute('provisioned_by');
  }

  // state - computed: true, optional: false, required: false
  public get state() {
    return this.getStringAttribute('state');
  }

  // stop_timeout_seconds - computed: false, optional: true, required: false
  private _stopTimeoutSeconds?: number; 
  public get stopTimeoutSeconds() {
    return this.getNumberAttribute('stop_timeout_seconds');
  }
  public set stopTimeoutSeconds(value: number) {
    this._stopTimeoutSeconds = value;
  }
  public resetStopTimeoutSeconds() {
    this._stopTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get stopTimeoutSecondsInput() {
    return this._stopTimeoutSeconds;
  }

  // template_id - computed: false, optional: true, required: false
  private _templateId?: string; 
  public get templateId() {
    return this.getStringAttribute('template_id');
  }
  public set templateId(value: string) {
    this._templateId = value;
  }
  public resetTemplateId() {
    this._templateId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get templateIdInput() {
    return this._templateId;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new VmTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: VmTimeouts) {
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
      datastore_id: cdktf.stringToTerraform(this._datastoreId),
      fork_of: cdktf.stringToTerraform(this._forkOf),
      ha_restart: cdktf.booleanToTerraform(this._haRestart),
      host_id: cdktf.stringToTerraform(this._hostId),
      instant_clone_of: cdktf.stringToTerraform(this._instantCloneOf),
      migration_notify_timeout_seconds: cdktf.numberToTerraform(this._migrationNotifyTimeoutSeconds),
      migration_on_missing_ack: cdktf.stringToTerraform(this._migrationOnMissingAck),
      name: cdktf.stringToTerraform(this._name),
      power_state: cdktf.stringToTerraform(this._powerState),
      stop_timeout_seconds: cdktf.numberToTerraform(this._stopTimeoutSeconds),
      template_id: cdktf.stringToTerraform(this._templateId),
      timeouts: vmTimeoutsToTerraform(this._timeouts.internalValue),
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
      datastore_id: {
        value: cdktf.stringToHclTerraform(this._datastoreId),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      fork_of: {
        value: cdktf.stringToHclTerraform(this._forkOf),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      ha_restart: {
        value: cdktf.booleanToHclTerraform(this._haRestart),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      host_id: {
        value: cdktf.stringToHclTerraform(this._hostId),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      instant_clone_of: {
        value: cdktf.stringToHclTerraform(this._instantCloneOf),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      migration_notify_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._migrationNotifyTimeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      migration_on_missing_ack: {
        value: cdktf.stringToHclTerraform(this._migrationOnMissingAck),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
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
      stop_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._stopTimeoutSeconds),
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
        value: vmTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "VmTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
