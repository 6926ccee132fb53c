//! Delivery metadata of a received datagram, read from the control messages
//! the kernel attaches to it: the multicast group (`NETLINK_PKTINFO`) and
//! the sender's credentials (`SCM_CREDENTIALS`). They fill the frame header
//! words the kernel-mapped rings filled (`nm_group`, `nm_pid`, `nm_uid`,
//! `nm_gid`), in every mode.

use ringlink_core::FrameMeta;

/// `NETLINK_PKTINFO`: the control message carrying the group.
pub(crate) const NETLINK_PKTINFO: i32 = 3;
/// `SOL_NETLINK`.
const SOL_NETLINK: i32 = 270;

/// Size of a control message header (`struct cmsghdr`).
const HEADER: usize = std::mem::size_of::<libc::cmsghdr>();
/// Size of `cmsg_len`, the header's first field.
const WORD: usize = std::mem::size_of::<usize>();
/// Control messages are aligned to the size of a `long`.
const ALIGN: usize = std::mem::size_of::<libc::c_long>();

/// `CMSG_SPACE(len)`: room for a control message of `len` data bytes.
const fn space(len: usize) -> usize {
    HEADER + len.next_multiple_of(ALIGN)
}

/// Room for both control messages: `struct nl_pktinfo` (4 bytes) and
/// `struct ucred` (12 bytes).
pub(crate) const CONTROL_LEN: usize = space(4) + space(12);

/// Reads the group and credentials out of `control` (the bytes the kernel
/// wrote as control messages). Anything malformed or unknown is ignored:
/// the words it would have filled stay 0.
pub(crate) fn from_control(control: &[u8]) -> FrameMeta {
    let mut meta = FrameMeta::default();
    let mut rest = control;
    while rest.len() >= HEADER {
        // cmsg_len (a size_t), cmsg_level, cmsg_type.
        let (len, level_kind) = rest.split_at(WORD);
        let len = usize::from_ne_bytes(len.try_into().unwrap_or([0; WORD]));
        // In bounds: `level_kind` holds the header's last 8 bytes at least.
        // Indexed byte by byte, as the compiler turns this into one load
        // (an array `map` here stayed a call per datagram).
        let b = level_kind;
        let int =
            |i: usize| i32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        let (level, kind) = (int(0), int(1));
        let Some(data) = rest.get(HEADER..len) else {
            break;
        };
        let word = |i: usize| {
            data.get(4 * i..4 * i + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        match (level, kind) {
            (SOL_NETLINK, NETLINK_PKTINFO) => meta.group = word(0).unwrap_or(0),
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => {
                if let (Some(pid), Some(uid), Some(gid)) = (word(0), word(1), word(2)) {
                    (meta.pid, meta.uid, meta.gid) = (pid, uid, gid);
                }
            }
            _ => {}
        }
        rest = rest.get(len.next_multiple_of(ALIGN)..).unwrap_or(&[]);
    }
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A control message as the kernel lays it out.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(HEADER + data.len()).to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        out.resize(space(data.len()), 0);
        out
    }

    #[test]
    fn group_and_credentials_are_read() {
        let creds: Vec<u8> = [7u32, 1000, 100]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        let mut control = cmsg(SOL_NETLINK, NETLINK_PKTINFO, &5u32.to_ne_bytes());
        control.extend(cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &creds));
        assert_eq!(control.len(), CONTROL_LEN);
        let meta = from_control(&control);
        assert_eq!(
            (meta.group, meta.pid, meta.uid, meta.gid),
            (5, 7, 1000, 100)
        );
    }

    #[test]
    fn short_and_unknown_messages_are_ignored() {
        let mut control = cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[1, 2, 3]);
        control.extend(cmsg(99, 99, &[9; 8]));
        control.extend(cmsg(SOL_NETLINK, NETLINK_PKTINFO, &3u32.to_ne_bytes()));
        let meta = from_control(&control);
        assert_eq!((meta.group, meta.pid, meta.uid, meta.gid), (3, 0, 0, 0));
    }

    proptest! {
        #[test]
        fn garbage_gives_metadata_not_panics(control in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = from_control(&control);
        }
    }
}
