export { runContainer, sandboxPath, ContainerSetupError, type ContainerIO, type ContainerResult } from './run.ts';
export {
  type ContainerSpec,
  type MountSpec,
  type LockSpec,
  type RootfsSpec,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
  defaultHosts,
  containerResolvConf,
  encodeSpec,
} from './spec.ts';
