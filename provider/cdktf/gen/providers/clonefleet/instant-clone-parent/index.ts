// https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface InstantCloneParentConfig extends cdktf.TerraformMetaArguments {
  /**
  * Unique parent name: letters, digits, '.', '_', '-'; at most 63 characters.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#name InstantCloneParent#name}
  */
  readonly name: string;
  /**
  * Where the RAM file lives: `tmpfs` (this host's memory: fastest clones, lost at a host reboot) or `datastore` (beside the frozen disk: survives reboots, other hosts mounting the datastore can clone it). Default: the engine's `--parent-ram-location`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#ram_location InstantCloneParent#ram_location}
  */
  readonly ramLocation?: string;
  /**
  * Start the source VM again after the capture (a cold boot on its own new overlay). false leaves it stopped.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#restart_source InstantCloneParent#restart_source}
  */
  readonly restartSource?: boolean | cdktf.IResolvable;
  /**
  * Id of the running VM to capture.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#source_vm_id InstantCloneParent#source_vm_id}
  */
  readonly sourceVmId: string;
  /**
  * On destroy, wait until the parent's instant clones are deleted (by Terraform or anyone) instead of failing while it has any; bounded by `timeouts.delete`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#wait_for_children_on_destroy InstantCloneParent#wait_for_children_on_destroy}
  */
  readonly waitForChildrenOnDestroy?: boolean | cdktf.IResolvable;
  /**
  * Children each engine host keeps pre-started for this parent (0 to 64; default 0): QEMU already up with its own overlay and identity, the parent's state loaded, paused, so a new instant clone (a `clonefleet_vm` with `instant_clone_of`, a scale-up) only resumes one instead of starting QEMU and loading the state first. Each costs an idle QEMU process's memory (no guest RAM until taken). Changed in place; a count changed outside Terraform shows as a change in the next plan.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#warm_count InstantCloneParent#warm_count}
  */
  readonly warmCount?: number;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#timeouts InstantCloneParent#timeouts}
  */
  readonly timeouts?: InstantCloneParentTimeouts;
}
export interface InstantCloneParentTimeouts {
  /**
  * How long to wait for create before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#create InstantCloneParent#create}
  */
  readonly create?: string;
  /**
  * How long to wait for delete before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#delete InstantCloneParent#delete}
  */
  readonly delete?: string;
}

export function instantCloneParentTimeoutsToTerraform(struct?: InstantCloneParentTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
  }
}


export function instantCloneParentTimeoutsToHclTerraform(struct?: InstantCloneParentTimeouts | cdktf.IResolvable): any {
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
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class InstantCloneParentTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): InstantCloneParentTimeouts | cdktf.IResolvable | undefined {
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
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: InstantCloneParentTimeouts | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._create = undefined;
      this._delete = undefined;
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
}

/**
* Represents a {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent clonefleet_instant_clone_parent}
*/
export class InstantCloneParent extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "clonefleet_instant_clone_parent";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a InstantCloneParent resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the InstantCloneParent to import
  * @param importFromId The id of the existing InstantCloneParent that should be imported. Refer to the {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the InstantCloneParent to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "clonefleet_instant_clone_parent", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/instant_clone_parent clonefleet_instant_clone_parent} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options InstantCloneParentConfig
  */
  public constructor(scope: Construct, id: string, config: InstantCloneParentConfig) {
    super(scope, id, {
      terraformResourceType: 'clonefleet_instant_clone_parent',
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
    this._name = config.name;
    this._ramLocation = config.ramLocation;
    this._restartSource = config.restartSource;
    this._sourceVmId = config.sourceVmId;
    this._waitForChildrenOnDestroy = config.waitForChildrenOnDestroy;
    this._warmCount = config.warmCount;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // accel - computed: true, optional: false, required: false
  public get accel() {
    return this.getStringAttribute('accel');
  }

  // children - computed: true, optional: false, required: false
  public get children() {
    return this.getListAttribute('children');
  }

  // created_at - computed: true, optional: false, required: false
  public get createdAt() {
    return this.getStringAttribute('created_at');
  }

  // datastore_id - computed: true, optional: false, required: false
  public get datastoreId() {
    return this.getStringAttribute('datastore_id');
  }

  // device_state_path - computed: true, optional: false, required: false
  public get deviceStatePath() {
    return this.getStringAttribute('device_state_path');
  }

  // disk_chain - computed: true, optional: false, required: false
  public get diskChain() {
    return this.getListAttribute('disk_chain');
  }

  // disk_path - computed: true, optional: false, required: false
  public get diskPath() {
    return this.getStringAttribute('disk_path');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // memory_bytes - computed: true, optional: false, required: false
  public get memoryBytes() {
    return this.getNumberAttribute('memory_bytes');
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

  // qemu_version - computed: true, optional: false, required: false
  public get qemuVersion() {
    return this.getStringAttribute('qemu_version');
  }

  // ram_location - computed: true, optional: true, required: false
  private _ramLocation?: string; 
  public get ramLocation() {
    return this.getStringAttribute('ram_location');
  }
  public set ramLocation(value: string) {
    this._ramLocation = value;
  }
  public resetRamLocation() {
    this._ramLocation = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get ramLocationInput() {
    return this._ramLocation;
  }

  // ram_path - computed: true, optional: false, required: false
  public get ramPath() {
    return this.getStringAttribute('ram_path');
  }

  // restart_source - computed: true, optional: true, required: false
  private _restartSource?: boolean | cdktf.IResolvable; 
  public get restartSource() {
    return this.getBooleanAttribute('restart_source');
  }
  public set restartSource(value: boolean | cdktf.IResolvable) {
    this._restartSource = value;
  }
  public resetRestartSource() {
    this._restartSource = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get restartSourceInput() {
    return this._restartSource;
  }

  // source_vm_id - computed: false, optional: false, required: true
  private _sourceVmId?: string; 
  public get sourceVmId() {
    return this.getStringAttribute('source_vm_id');
  }
  public set sourceVmId(value: string) {
    this._sourceVmId = value;
  }
  // Temporarily expose input value. Use with caution.
  public get sourceVmIdInput() {
    return this._sourceVmId;
  }

  // state - computed: true, optional: false, required: false
  public get state() {
    return this.getStringAttribute('state');
  }

  // wait_for_children_on_destroy - computed: true, optional: true, required: false
  private _waitForChildrenOnDestroy?: boolean | cdktf.IResolvable; 
  public get waitForChildrenOnDestroy() {
    return this.getBooleanAttribute('wait_for_children_on_destroy');
  }
  public set waitForChildrenOnDestroy(value: boolean | cdktf.IResolvable) {
    this._waitForChildrenOnDestroy = value;
  }
  public resetWaitForChildrenOnDestroy() {
    this._waitForChildrenOnDestroy = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get waitForChildrenOnDestroyInput() {
    return this._waitForChildrenOnDestroy;
  }

  // warm_count - computed: true, optional: true, required: false
  private _warmCount?: number; 
  public get warmCount() {
    return this.getNumberAttribute('warm_count');
  }
  public set warmCount(value: number) {
    this._warmCount = value;
  }
  public resetWarmCount() {
    this._warmCount = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get warmCountInput() {
    return this._warmCount;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new InstantCloneParentTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: InstantCloneParentTimeouts) {
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
      name: cdktf.stringToTerraform(this._name),
      ram_location: cdktf.stringToTerraform(this._ramLocation),
      restart_source: cdktf.booleanToTerraform(this._restartSource),
      source_vm_id: cdktf.stringToTerraform(this._sourceVmId),
      wait_for_children_on_destroy: cdktf.booleanToTerraform(this._waitForChildrenOnDestroy),
      warm_count: cdktf.numberToTerraform(this._warmCount),
      timeouts: instantCloneParentTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      ram_location: {
        value: cdktf.stringToHclTerraform(this._ramLocation),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      restart_source: {
        value: cdktf.booleanToHclTerraform(this._restartSource),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      source_vm_id: {
        value: cdktf.stringToHclTerraform(this._sourceVmId),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      wait_for_children_on_destroy: {
        value: cdktf.booleanToHclTerraform(this._waitForChildrenOnDestroy),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      warm_count: {
        value: cdktf.numberToHclTerraform(this._warmCount),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      timeouts: {
        value: instantCloneParentTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "InstantCloneParentTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
