//! Named segments: links between processes that rendezvous by a name and
//! cannot pass descriptors, over POSIX shared memory (the `shared_memory`
//! crate).
//!
//! Limits, compared with links made over a socket:
//!
//! - no seals: POSIX shared memory cannot be sealed, so a peer (or anyone
//!   allowed to open the name) can truncate the segment, and this process
//!   then faults (SIGBUS) on its next access. Use named segments only
//!   between processes that trust each other.
//! - no out-of-band path: messages must fit a frame; larger ones are refused
//!   with `LinkError::TooLarge`.
//! - no pollable fd: waiting sleeps on futexes in the control page.
//! - a dead peer is noticed by its process id (recorded in the control
//!   page) no longer existing: checked every 50 ms while waiting and every
//!   65,536 empty polls. An orderly close is seen at once.

use crate::control::{Layout, Side};
use crate::error::SetupError;
use crate::link::{Link, LinkOptions, layout};
use crate::segment::Mapping;
use crate::wake::Wake;
use shared_memory::{ShmemConf, ShmemError};
use std::sync::Arc;

impl Link {
    /// Creates the named segment `name` and becomes its side A. The name is
    /// removed when this link is dropped.
    pub fn create_named(name: &str, options: &LinkOptions) -> Result<Link, SetupError> {
        let layout = layout(options)?;
        let shmem = ShmemConf::new()
            .os_id(name)
            .size(layout.total_size as usize)
            .create()
            .map_err(|e| named_error(name, "creating", e))?;
        let mapping = Arc::new(Mapping::named(shmem)?);
        mapping.control().declare(&layout);
        Link::named(Side::A, mapping, &layout, options)
    }

    /// Opens the named segment `name` that a peer created, after checking
    /// its control page against its size, and becomes its side B.
    pub fn open_named(name: &str, options: &LinkOptions) -> Result<Link, SetupError> {
        let shmem = ShmemConf::new()
            .os_id(name)
            .open()
            .map_err(|e| named_error(name, "opening", e))?;
        let mapping = Arc::new(Mapping::named(shmem)?);
        let layout = mapping.control().read()?;
        layout.validate(ringlink_core::Memory::len(&*mapping) as u64)?;
        Link::named(Side::B, mapping, &layout, options)
    }

    fn named(
        side: Side,
        mapping: Arc<Mapping>,
        layout: &Layout,
        options: &LinkOptions,
    ) -> Result<Link, SetupError> {
        let wake = Wake::futex(mapping.clone(), side);
        // No out-of-band path: the largest message is what a frame holds,
        // which `max_message` falls back to.
        Link::assemble(side, None, wake, mapping, layout, options, 0)
    }
}

fn named_error(name: &str, doing: &str, error: ShmemError) -> SetupError {
    let hint = match error {
        ShmemError::MappingIdExists => {
            " (a segment of that name exists: another link, or a stale one to remove from /dev/shm)"
        }
        ShmemError::MapOpenFailed(_) => " (no segment of that name: is its creator running?)",
        _ => "",
    };
    SetupError::BadSegment(format!("{doing} named segment {name:?}: {error}{hint}"))
}
