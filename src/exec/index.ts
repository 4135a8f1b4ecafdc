export { runContainer, sandboxPath, ContainerSetupError, type ContainerIO, type ContainerResult } from './run.ts';
export {
  type ContainerSpec,
  type MountSpec,
  type LockSpec,
  type RootfsSpec,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  OVERLAY_OPTIONS,
  defaultHosts,
  containerResolvConf,
  encodeSpec,
} from './spec.ts';
