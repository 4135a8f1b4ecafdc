/**
 * The overlay upper-directory format berth's snapshots use, in one place: whiteouts are 0:0
 * character devices, opaque directories carry the overlay's `opaque` xattr. Which xattr namespace
 * holds it depends on who mounts: the kernel's overlay reads `trusted.overlay.*` when mounted from
 * the initial user namespace, and `user.overlay.*` with the `userxattr` option, the only form a
 * user namespace may mount (trusted.* needs CAP_SYS_ADMIN in the initial namespace). A rootless
 * store is only ever mounted rootless, so the choice is made once per process.
 */
import { userNamespace } from '../sys/userns.ts';

export type OverlayXattr = 'opaque' | 'redirect' | 'metacopy';

/** `trusted.overlay.<name>`, or `user.overlay.<name>` inside a user namespace. */
export function overlayXattr(name: OverlayXattr): string {
  return `${userNamespace().rootless ? 'user' : 'trusted'}.overlay.${name}`;
}

/** Overlay metadata of either namespace: never copied from a layer or into one. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

/**
 * The overlay mount options: never redirects, metadata-only copy-ups or an index, so an upper dir
 * stays a plain diff a tar walk can read. In a user namespace `userxattr`, and `nofollow` for
 * redirects: the kernel reads `redirect_dir=off` as `follow` when built to always follow
 * redirects, and refuses that with `userxattr` (which cannot trust a user xattr redirect).
 */
export function overlayMountOptions(): string[] {
  if (userNamespace().rootless) return ['userxattr', 'index=off', 'redirect_dir=nofollow', 'metacopy=off'];
  return ['index=off', 'redirect_dir=off', 'metacopy=off'];
}
