/**
 * The hypervisor layer's public surface: QEMU processes, their command lines, the QMP client,
 * accelerator choice, state save/load and migration, and the guest channels. Other engine
 * folders import from here, not from the files inside.
 */
export { KVM_DEVICE, AccelUnavailableError, isAccelSetting, probeKvm, resolveAccel, type Accel, type AccelChoice, type AccelSetting } from "./accel";
export {
  AGENT_PORT_NAME,
  IDENTITY_BYTES,
  IDENTITY_FW_CFG_NAME,
  NOTIFY_PORT_NAME,
  QEMU_SYSTEM,
  buildQemuArgs,
  optValue,
  paddedIdentity,
  portSocketPath,
  stateFiles,
  validateVmSpec,
  type DiskLayerRef,
  type DiskSpec,
  type KernelBoot,
  type MemoryFile,
  type SerialPortSpec,
  type StateFiles,
  type VmSpec,
} from "./args";
export { GuestAgentClient, GuestAgentError, DEFAULT_AGENT_TIMEOUT_MS } from "./agent";
export { BlockNodeNotFoundError, anyNodeOnFile, chainUnder, dropBlockNode, liveChainFiles, liveDiskChain, nodeOfFile, type LiveLayer } from "./block-nodes";
export { WaitAbortedError, WaitTimeoutError, pollUntil, sleep } from "./deadline";
export {
  GuestChannelError,
  GuestTimeoutError,
  HypervisorError,
  MigrationError,
  QemuStartError,
  VmAlreadyRunningError,
  VmNotRunningError,
  VmSpecError,
} from "./errors";
export { isLiveQemuOf, isQemuOfSocket, livePid } from "./liveness";
export { silentLog, type HypervisorLog } from "./log";
export {
  GuestNotifyChannel,
  MAX_NOTICE_DEADLINE_MS,
  NOTIFY_PROTOCOL_VERSION,
  completionMessage,
  noticeMessage,
  type CompletionOutcome,
  type GuestNotice,
  type NoticeOutcome,
} from "./notify";
export {
  DEFAULT_POWERDOWN_TIMEOUT_MS,
  DEFAULT_START_TIMEOUT_MS,
  QemuProcess,
  cleanStateDir,
  probeVm,
  qemuVersion,
  runStatusOf,
  withReattachedQmp,
  type ExitInfo,
  type QemuVersion,
  type ReattachOptions,
  type ShutdownResult,
  type StartOptions,
  type VmProbe,
  type VmProcessRecord,
} from "./process";
export {
  DEFAULT_STATE_TIMEOUT_MS,
  SAVE_MAX_BANDWIDTH_BYTES_PER_SEC,
  loadState,
  migrate,
  saveState,
  setMigrationCapabilities,
  setMigrationParameters,
  shellQuote,
  waitForMigration,
  type LoadStateOptions,
  type LoadStateResult,
  type MigrateOptions,
  type SaveStateOptions,
  type SaveStateResult,
} from "./state";
export { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, QmpClient, type ExecuteOptions, type QmpConnectOptions } from "./qmp/client";
export type * from "./qmp/commands";
export {
  QmpAbortedError,
  QmpCommandError,
  QmpConnectError,
  QmpError,
  QmpInterruptedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from "./qmp/errors";
export { QmpEventListener, type NextEventOptions, type QmpEvent, type QmpEventName, type QmpEvents } from "./qmp/events";
export type { QmpGreeting, QmpRunState, QmpVersion } from "./qmp/protocol";
