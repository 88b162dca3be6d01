/** The disk layer: qcow2 images through qemu-img, chains, full copies, datastore layout and the content-ID catalog. */
export {
  QEMU_IMG,
  QemuImgError,
  NotADiskImageError,
  isAbortError,
  createImage,
  createOverlay,
  imageInfo,
  imageInUse,
  imageInfoChain,
  parseImageInfoJson,
  parseImageInfoChainJson,
  resolveBackingPath,
  convert,
  rebase,
  commit,
  check,
  compare,
  probeImage,
} from "./qemu-img";
export type { QemuImgCallOptions, ImageFormat, ImageInfo, CheckResult, CompareResult, ProbeResult } from "./qemu-img";
export { listImageReferences, standaloneImageProblem, isProtocolFilename } from "./image-references";
export type { ImageReference, ImageReferenceKind } from "./image-references";
export { newContentId, isContentId } from "./content-id";
export { inspectChain, inspectChainCached, parseChainJson } from "./chain";
export type { ChainLayer } from "./chain";
export { CatalogError, catalogPath, readCatalog, writeCatalog } from "./catalog";
export type { CatalogEntry } from "./catalog";
export { reflinkSupported, fullCopy } from "./copy";
export type { FullCopyResult } from "./copy";
export { engineDir, tmpDir, templateDir, templateDiskPath, replicaDir, replicaLayerPath, poolDir, poolCopyPath, vmDir, vmDiskPath, partPath, ensureLayout, isInside } from "./layout";
export { copyLayerFile } from "./layer-copy";
export { reapOrphanedTools } from "./orphan-tools";
export { NotARegularFileError, copyRegularFile, openRegularFile, requireRegularFile } from "./regular-file";
export { ENGINE_UMASK, ENGINE_FILE_MODE, applyEngineUmask, copyFileRestricted, restrictEngineTree } from "./file-modes";
export type { LayerCopyResult } from "./layer-copy";
export { OutsideOwnedFolderError, ownedPath, removeOwnedTree } from "./owned-path";
