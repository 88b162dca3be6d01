export type { CompletionRequest, IncomingReady, IncomingRequest, NbdEndpoint, PeerHost, TargetDirRequest } from "./peer-host";
export { HOST_ID_HEADER, HOST_REQUEST_TIMEOUT_MS, HOST_TOKEN_HEADER, httpPeerHost, type PeerHostOptions } from "./http-peer-host";
