/* The errno values ks BPF programs compare against, by name: vmlinux.h has the
 * kernel's types, not its UAPI macros. */
#ifndef KS_ERRNO_BPF_H
#define KS_ERRNO_BPF_H

#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EEXIST 17
#define EHOSTUNREACH 113

#endif /* KS_ERRNO_BPF_H */
