// Free space and inodes of the filesystem holding Docker's data root.
import { statfs } from 'node:fs/promises';

/** One measurement of a filesystem. */
export interface DiskUsage {
  path: string;
  totalBytes: number;
  /** Bytes available to unprivileged writers: what a pull can really use. */
  freeBytes: number;
  freeRatio: number;
  totalInodes: number;
  freeInodes: number;
  freeInodesRatio: number;
}

/** Measures a filesystem; the edge between the agent and the kernel. */
export type MeasureDisk = (path: string) => Promise<DiskUsage>;

/** Measures with statfs(2). */
export const measureDisk: MeasureDisk = async (path) => {
  const s = await statfs(path);
  const totalBytes = s.blocks * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  return {
    path,
    totalBytes,
    freeBytes,
    freeRatio: totalBytes > 0 ? freeBytes / totalBytes : 0,
    totalInodes: s.files,
    freeInodes: s.ffree,
    // Filesystems without inode limits (btrfs, some overlays) report zero inodes: never a shortage.
    freeInodesRatio: s.files > 0 ? s.ffree / s.files : 1,
  };
};
