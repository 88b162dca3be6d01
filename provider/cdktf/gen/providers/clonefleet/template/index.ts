// https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface TemplateConfig extends cdktf.TerraformMetaArguments {
  /**
  * Kernel command line; needs kernel.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#cmdline Template#cmdline}
  */
  readonly cmdline?: string;
  /**
  * Datastore that keeps the template's disk.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#datastore_id Template#datastore_id}
  */
  readonly datastoreId: string;
  /**
  * Initrd for direct kernel boot; needs kernel.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#initrd Template#initrd}
  */
  readonly initrd?: string;
  /**
  * Kernel on the engine host for direct kernel boot; copied beside the disk.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#kernel Template#kernel}
  */
  readonly kernel?: string;
  /**
  * Memory of VMs made from it, MiB (16–1048576).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#memory_mb Template#memory_mb}
  */
  readonly memoryMb?: number;
  /**
  * Unique template name.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#name Template#name}
  */
  readonly name: string;
  /**
  * qcow2 or raw image on the engine host; copied and converted at creation.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#source_path Template#source_path}
  */
  readonly sourcePath: string;
  /**
  * Virtual CPUs (1–255).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#vcpus Template#vcpus}
  */
  readonly vcpus?: number;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#timeouts Template#timeouts}
  */
  readonly timeouts?: TemplateTimeouts;
}
export interface TemplateTimeouts {
  /**
  * How long to wait for create before giving up, as a duration such as "30s", "20m" or "1h" (default 30m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#create Template#create}
  */
  readonly create?: string;
  /**
  * How long to wait for delete before giving up, as a duration such as "30s", "20m" or "1h" (default 10m).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#delete Template#delete}
  */
  readonly delete?: string;
}

export function templateTimeoutsToTerraform(struct?: TemplateTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
  }
}


export function templateTimeoutsToHclTerraform(struct?: TemplateTimeouts | cdktf.IResolvable): any {
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

export class TemplateTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): TemplateTimeouts | cdktf.IResolvable | undefined {
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

  public set internalValue(value: TemplateTimeouts | cdktf.IResolvable | undefined) {
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
* Represents a {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template clonefleet_template}
*/
export class Template extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "clonefleet_template";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Template resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Template to import
  * @param importFromId The id of the existing Template that should be imported. Refer to the {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Template to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "clonefleet_template", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/template clonefleet_template} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options TemplateConfig
  */
  public constructor(scope: Construct, id: string, config: TemplateConfig) {
    super(scope, id, {
      terraformResourceType: 'clonefleet_template',
      terraformGeneratorMetadata: {
        providerName: 'clonefleet'
      },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach
    });
    this._cmdline = config.cmdline;
    this._datastoreId = config.datastoreId;
    this._initrd = config.initrd;
    this._kernel = config.kernel;
    this._memoryMb = config.memoryMb;
    this._name = config.name;
    this._sourcePath = config.sourcePath;
    this._vcpus = config.vcpus;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // cmdline - computed: false, optional: true, required: false
  private _cmdline?: string; 
  public get cmdline() {
    return this.getStringAttribute('cmdline');
  }
  public set cmdline(value: string) {
    this._cmdline = value;
  }
  public resetCmdline() {
    this._cmdline = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cmdlineInput() {
    return this._cmdline;
  }

  // content_id - computed: true, optional: false, required: false
  public get contentId() {
    return this.getStringAttribute('content_id');
  }

  // datastore_id - computed: false, optional: false, required: true
  private _datastoreId?: string; 
  public get datastoreId() {
    return this.getStringAttribute('datastore_id');
  }
  public set datastoreId(value: string) {
    this._datastoreId = value;
  }
  // Temporarily expose input value. Use with caution.
  public get datastoreIdInput() {
    return this._datastoreId;
  }

  // disk_path - computed: true, optional: false, required: false
  public get diskPath() {
    return this.getStringAttribute('disk_path');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // initrd - computed: false, optional: true, required: false
  private _initrd?: string; 
  public get initrd() {
    return this.getStringAttribute('initrd');
  }
  public set initrd(value: string) {
    this._initrd = value;
  }
  public resetInitrd() {
    this._initrd = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get initrdInput() {
    return this._initrd;
  }

  // kernel - computed: false, optional: true, required: false
  private _kernel?: string; 
  public get kernel() {
    return this.getStringAttribute('kernel');
  }
  public set kernel(value: string) {
    this._kernel = value;
  }
  public resetKernel() {
    this._kernel = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get kernelInput() {
    return this._kernel;
  }

  // memory_mb - computed: true, optional: true, required: false
  private _memoryMb?: number; 
  public get memoryMb() {
    return this.getNumberAttribute('memory_mb');
  }
  public set memoryMb(value: number) {
    this._memoryMb = value;
  }
  public resetMemoryMb() {
    this._memoryMb = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get memoryMbInput() {
    return this._memoryMb;
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

  // source_path - computed: false, optional: false, required: true
  private _sourcePath?: string; 
  public get sourcePath() {
    return this.getStringAttribute('source_path');
  }
  public set sourcePath(value: string) {
    this._sourcePath = value;
  }
  // Temporarily expose input value. Use with caution.
  public get sourcePathInput() {
    return this._sourcePath;
  }

  // vcpus - computed: true, optional: true, required: false
  private _vcpus?: number; 
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
  }
  public set vcpus(value: number) {
    this._vcpus = value;
  }
  public resetVcpus() {
    this._vcpus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get vcpusInput() {
    return this._vcpus;
  }

  // virtual_size_bytes - computed: true, optional: false, required: false
  public get virtualSizeBytes() {
    return this.getNumberAttribute('virtual_size_bytes');
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new TemplateTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: TemplateTimeouts) {
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
      cmdline: cdktf.stringToTerraform(this._cmdline),
      datastore_id: cdktf.stringToTerraform(this._datastoreId),
      initrd: cdktf.stringToTerraform(this._initrd),
      kernel: cdktf.stringToTerraform(this._kernel),
      memory_mb: cdktf.numberToTerraform(this._memoryMb),
      name: cdktf.stringToTerraform(this._name),
      source_path: cdktf.stringToTerraform(this._sourcePath),
      vcpus: cdktf.numberToTerraform(this._vcpus),
      timeouts: templateTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      cmdline: {
        value: cdktf.stringToHclTerraform(this._cmdline),
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
      initrd: {
        value: cdktf.stringToHclTerraform(this._initrd),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      kernel: {
        value: cdktf.stringToHclTerraform(this._kernel),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      memory_mb: {
        value: cdktf.numberToHclTerraform(this._memoryMb),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      source_path: {
        value: cdktf.stringToHclTerraform(this._sourcePath),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      vcpus: {
        value: cdktf.numberToHclTerraform(this._vcpus),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      timeouts: {
        value: templateTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "TemplateTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
