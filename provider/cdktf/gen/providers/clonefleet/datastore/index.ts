// https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface DatastoreConfig extends cdktf.TerraformMetaArguments {
  /**
  * The one host whose agent can read the directory; VMs, pools and fleets on it live on that host. Conflicts with `shared = true`. Left unset, it reads the datastore's host (null when shared). Changing it replaces the datastore.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore#host_id Datastore#host_id}
  */
  readonly hostId?: string;
  /**
  * Unique name: letters, digits, `.`, `_`, `-`; at most 63 characters.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore#name Datastore#name}
  */
  readonly name: string;
  /**
  * Absolute directory on the engine host; created when missing.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore#path Datastore#path}
  */
  readonly path: string;
  /**
  * True (default): every host sees the directory at the same path (NFS and the like). False: it belongs to `host_id`, or when that is unset to the host of the engine the provider talks to. Changing it replaces the datastore.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore#shared Datastore#shared}
  */
  readonly shared?: boolean | cdktf.IResolvable;
}

/**
* Represents a {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore clonefleet_datastore}
*/
export class Datastore extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "clonefleet_datastore";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Datastore resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Datastore to import
  * @param importFromId The id of the existing Datastore that should be imported. Refer to the {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Datastore to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "clonefleet_datastore", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/clonefleet/clonefleet/latest/docs/resources/datastore clonefleet_datastore} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options DatastoreConfig
  */
  public constructor(scope: Construct, id: string, config: DatastoreConfig) {
    super(scope, id, {
      terraformResourceType: 'clonefleet_datastore',
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
    this._hostId = config.hostId;
    this._name = config.name;
    this._path = config.path;
    this._shared = config.shared;
  }

  // ==========
  // ATTRIBUTES
  // ==========

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

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
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

  // path - computed: false, optional: false, required: true
  private _path?: string; 
  public get path() {
    return this.getStringAttribute('path');
  }
  public set path(value: string) {
    this._path = value;
  }
  // Temporarily expose input value. Use with caution.
  public get pathInput() {
    return this._path;
  }

  // shared - computed: true, optional: true, required: false
  private _shared?: boolean | cdktf.IResolvable; 
  public get shared() {
    return this.getBooleanAttribute('shared');
  }
  public set shared(value: boolean | cdktf.IResolvable) {
    this._shared = value;
  }
  public resetShared() {
    this._shared = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sharedInput() {
    return this._shared;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      host_id: cdktf.stringToTerraform(this._hostId),
      name: cdktf.stringToTerraform(this._name),
      path: cdktf.stringToTerraform(this._path),
      shared: cdktf.booleanToTerraform(this._shared),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      host_id: {
        value: cdktf.stringToHclTerraform(this._hostId),
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
      path: {
        value: cdktf.stringToHclTerraform(this._path),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      shared: {
        value: cdktf.booleanToHclTerraform(this._shared),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
