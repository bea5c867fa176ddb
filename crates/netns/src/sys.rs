//! The crate's only `unsafe` code: two ioctls, one socket option,
//! getrandom(2) and the new mount API's three calls, which neither nix nor
//! libc wrap safely.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// `NS_GET_NSTYPE` from `linux/nsfs.h`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The `CLONE_NEW*` type of the namespace behind `fd`.
///
/// # References
/// ioctl_nsfs(2)
pub(crate) fn ns_type(fd: BorrowedFd<'_>) -> Result<libc::c_int, Errno> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd; an fd
    // that is not an nsfs file makes the kernel return ENOTTY, not UB.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    Errno::result(r)
}

/// Bring the interface `name` up with `SIOCSIFFLAGS` in the current
/// thread's network namespace. Used for `lo` in a fresh sandbox, where
/// pulling in a netlink stack would be overkill.
///
/// # References
/// netdevice(7)
pub(crate) fn set_link_up(name: &str) -> Result<(), Errno> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(Errno::EINVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid, NUL-terminated ifreq that outlives the call;
    // SIOCGIFFLAGS writes only ifr_flags inside it.
    Errno::result(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut req,
        )
    })?;
    // SAFETY: SIOCGIFFLAGS just initialised the ifr_flags member of the union.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    Errno::result(unsafe {
        libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as libc::Ioctl, &req)
    })?;
    Ok(())
}

/// `SO_NETNS_COOKIE` from `asm-generic/socket.h` (Linux 5.14); sparc
/// numbers it differently.
#[cfg(not(target_arch = "sparc64"))]
const SO_NETNS_COOKIE: libc::c_int = 71;
#[cfg(target_arch = "sparc64")]
const SO_NETNS_COOKIE: libc::c_int = 0x0050;

/// The cookie of the network namespace the socket `fd` belongs to: a
/// number the kernel gives each namespace at birth, unique until reboot and
/// never reused (unlike the nsfs inode). `Ok(None)` on kernels before 5.14,
/// which do not know the option.
///
/// # References
/// socket(7), `SO_NETNS_COOKIE`
pub(crate) fn netns_cookie(fd: BorrowedFd<'_>) -> Result<Option<u64>, Errno> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` and `len` are valid for writes of the sizes passed;
    // the kernel writes at most `len` bytes into `cookie` and updates `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    match Errno::result(r) {
        Ok(_) if len as usize == std::mem::size_of::<u64>() => Ok(Some(cookie)),
        Ok(_) | Err(Errno::ENOPROTOOPT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The cookie of the calling thread's network namespace (see
/// [`netns_cookie`]), read from a throwaway datagram socket.
pub(crate) fn current_netns_cookie() -> Result<Option<u64>, Errno> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    netns_cookie(std::os::fd::AsFd::as_fd(&sock))
}

/// Fill `buf` from the kernel's random pool with getrandom(2): one system
/// call, no file to open (it blocks only before the pool is first
/// initialised, early in boot).
pub(crate) fn getrandom(buf: &mut [u8]) -> Result<(), Errno> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, memory we own and
        // borrow mutably for the call; the kernel writes at most that many
        // bytes into it.
        let r = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match Errno::result(r) {
            Ok(n) => filled += n as usize,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A procfs instance of our own, mounted nowhere (`fsopen("proc")`,
/// `fsconfig(FSCONFIG_CMD_CREATE)`, `fsmount`; Linux 5.2, and an instance
/// with its own superblock, hence its own directory entries, since 5.8):
/// `nosuid,nodev,noexec`, and read-only with `read_only`. It goes away
/// with the last descriptor open through it.
///
/// # References
/// fsopen(2), fsconfig(2), fsmount(2)
pub(crate) fn private_proc(read_only: bool) -> Result<OwnedFd, Errno> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: libc::c_uint = 0x01;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x02;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x04;
    const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x08;
    // SAFETY: fsopen reads the NUL-terminated file system name and returns
    // a new descriptor, or -1.
    let fs = Errno::result(unsafe {
        libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC)
    })?;
    // SAFETY: a descriptor fsopen just returned, owned by nothing else.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux (null, null,
    // 0); it only reads the context behind the descriptor.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    if read_only {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    // SAFETY: fsmount takes the configured context's descriptor and two
    // flag words, and returns a new descriptor, or -1.
    let mnt = Errno::result(unsafe {
        libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
    })?;
    // SAFETY: a descriptor fsmount just returned, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as RawFd) })
}
