// SPDX-License-Identifier: Apache-2.0
/*
 * Task helpers: an fd of the current task to its struct file.
 *
 * Part of peregrine.bpf.c (one compilation unit): uses what the files included before it define.
 */

/* kfunc (6.2+): reinterprets a kernel pointer as a read-only BTF-typed one. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
	if (fd < 0)
		return NULL;
	/* Direct loads through the BTF-typed task (faulting loads become 0), not helper calls:
	 * this runs for every open-family and socket record. */
	struct files_struct *files = t->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt)
		return NULL;
	unsigned int max = fdt->max_fds;
	if ((unsigned long)fd >= max)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	/* Typed again (read-only) so that callers walk file → inode → sb with direct loads. */
	return f ? bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file)) : NULL;
}
