// SPDX-License-Identifier: Apache-2.0
/*
 * Peregrine's kernel side: syscall and process-lifecycle capture.
 *
 * Design in one paragraph: sys_exit decides (interest map, self/target filter) and writes ONE
 * record per syscall with the result and the arguments, read from the saved user registers
 * (or, for syscalls user space opts in, from a per-thread stash filled at sys_enter — the
 * enter hook is attached only then). Records go into a per-CPU batch (struct pg_batch) that is
 * shipped to the ring as one entry when full, when its oldest record is PG_BATCH_AGE_NS old,
 * or by a CPU-pinned timer: one ring reservation and one copy of L1-hot lines per batch
 * instead of a reservation (irq-saving spinlock) and fresh cross-CPU cache lines per record,
 * which measured ≈ 85 of the ≈ 250 ns a captured getppid's program took. A record of fixed-size
 * parameters is written in place in the batch by the dispatcher itself; one with strings or
 * buffers is assembled in a per-CPU scratch area by a tail-called writer and copied into the
 * batch. Entries are submitted with BPF_RB_NO_WAKEUP (user space drains on a short timer; a
 * wakeup is forced only when the ring is half full). Successful execs are emitted from
 * sched_process_exec, where the binprm (the file actually executed, its name as resolved by
 * the kernel) is still available; failed ones from sys_exit; procexit from sched_process_exit.
 * Parameters use Falco's scap encodings; flag values are the raw kernel ones and are mapped to
 * Falco's PPM_* values in user space, where the tables are testable.
 *
 * When arguments are read (a racing thread can rewrite user memory at any time):
 *  - exec: everything comes from kernel memory after the point of no return (binprm filename,
 *    the new mm's argument and environment pages, the executed file): not racy.
 *  - socket tuples (connect, accept, sendto, recvfrom): from the kernel's struct sock at exit,
 *    i.e. what the kernel actually used, not from the caller's sockaddr.
 *  - file identity (dev, ino of open/openat/openat2/creat): from the opened struct file at exit.
 *  - user-supplied strings (paths, connect/bind sockaddr): read at exit, like Falco. The kernel
 *    copied them at syscall entry; a thread racing between that copy and our read can make the
 *    event show another string. Reading them at sys_enter narrows but does not close that
 *    window and costs a per-thread string stash; the fd-based identity above is the
 *    authoritative part and is what the state engine should trust.
 *  - user memory that is not resident cannot be read (BPF cannot fault pages in): the
 *    parameter is left empty and counted in read_failures. Paths the kernel just used are
 *    resident; a buffer the kernel rejected before touching it may not be.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "peregrine_record.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * One compilation unit, one object: the parts below are included once each, in dependency
 * order (libraries, then one file per hook family), so the loader sees the same programs and
 * maps as before the split and every helper stays `static __always_inline` across files.
 */

#include "lib/maps.h"
#include "lib/record.h"
#include "lib/task.h"
#include "lib/path.h"
#include "lib/sockets.h"
#include "lib/iov.h"
#include "lib/poll.h"
#include "lib/batch.h"
#include "lib/cgroups.h"
#include "process/info.h"
#include "process/exec.h"
#include "process/clone.h"
#include "process/exit.h"
#include "syscall/open.h"
#include "syscall/fixed.h"
#include "syscall/variable.h"
#include "syscall/enter.h"
#include "syscall/exit.h"
#include "sched/switch.h"
