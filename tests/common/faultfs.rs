//! `FaultFs`: an in-memory FUSE filesystem that can lose power and fail fsyncs, for the tests of
//! the broker's durability promises ("an acknowledged record survives power loss", "a failed
//! fsync is never reported as success").
//!
//! The filesystem is served by background threads of the test process; the broker under test
//! runs as a child process with its data directory inside the mount, so every syscall it makes
//! reaches this file's handlers through the kernel, page cache and shared mappings included.
//!
//! # Durability model
//!
//! Like a disk behind a page cache, every file has *current* contents (what reads see) and
//! *durable* contents (what a power cut leaves), and every directory has current and durable
//! entries:
//!
//! - `fsync`/`fdatasync` on a file makes its current data and size durable. Both behave alike:
//!   the broker's recovery must not depend on `fdatasync` skipping the size.
//! - Creating, unlinking and renaming entries (files or directories) changes only a directory's
//!   current entries; `fsync` of the directory makes all of them durable at once, as a journal
//!   commit of ext4 does. Data made durable while the file's entry is not is lost with the entry.
//! - [`FaultFs::power_cut`] puts everything back to its durable state. Files and directories
//!   reachable from the root only through entries that were never made durable vanish.
//! - A failed fsync ([`FaultFs::fail_next_fsyncs`]) behaves as Linux does after a failed
//!   writeback: the pages written since the last fsync are marked clean without reaching the
//!   disk, so a later successful fsync does not store them (reads still see them until a power
//!   cut). The size change is still stored by that later fsync, so the lost range reads back as
//!   zeros after a power cut, as an unwritten extent does. Durability is tracked per 4 KiB page:
//!   a later write to a page whose earlier contents were lost stores the whole page again, as
//!   writing back a re-dirtied page does.
//!
//! # Mapping files in the test process
//!
//! Map files of the filesystem only in other processes (the broker, or a forked child): a
//! process that maps a file here and unmaps it with dirty pages holds its own mmap lock while
//! the kernel waits for the write-back, and a server thread of that same process may need the
//! lock (to fault in its request buffer, or to allocate) before it can serve that write-back.
//!
//! Locks (`flock`, `fcntl`) are left to the kernel, which handles them locally when the
//! filesystem does not ask for them, and releases them when a killed broker's files close.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, Notifier, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// Granularity of durability tracking: a kernel page.
const PAGE: usize = 4096;

/// The file system name shown in `mount`, also used to find mounts left by a killed test run.
const FS_NAME: &str = "rivulet-faultfs";

/// Attributes and entries are not cached by the kernel: after a power cut every lookup must
/// see the reverted state.
const TTL: Duration = Duration::ZERO;

type Page = Arc<[u8; PAGE]>;

/// File contents as pages shared copy-on-write between the current and durable versions, so
/// an fsync copies only the pages written since the last one. `None` pages are holes.
#[derive(Clone, Default)]
struct Data {
    len: u64,
    pages: Vec<Option<Page>>,
}

fn pages_for(len: u64) -> usize {
    len.div_ceil(PAGE as u64) as usize
}

impl Data {
    fn read(&self, offset: u64, size: usize) -> Vec<u8> {
        if offset >= self.len {
            return Vec::new();
        }
        let end = self.len.min(offset + size as u64);
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut pos = offset;
        while pos < end {
            let (index, within) = ((pos / PAGE as u64) as usize, (pos % PAGE as u64) as usize);
            let n = (PAGE - within).min((end - pos) as usize);
            match &self.pages[index] {
                Some(page) => out.extend_from_slice(&page[within..within + n]),
                None => out.resize(out.len() + n, 0),
            }
            pos += n as u64;
        }
        out
    }

    /// Writes `bytes` at `offset`, growing the file; returns the pages touched.
    fn write(&mut self, offset: u64, bytes: &[u8]) -> std::ops::Range<usize> {
        let end = offset + bytes.len() as u64;
        if end > self.len {
            self.set_len(end);
        }
        let mut pos = offset;
        let mut done = 0;
        while done < bytes.len() {
            let (index, within) = ((pos / PAGE as u64) as usize, (pos % PAGE as u64) as usize);
            let n = (PAGE - within).min(bytes.len() - done);
            let page = self.pages[index].get_or_insert_with(|| Arc::new([0; PAGE]));
            Arc::make_mut(page)[within..within + n].copy_from_slice(&bytes[done..done + n]);
            pos += n as u64;
            done += n;
        }
        (offset / PAGE as u64) as usize..pages_for(end)
    }

    /// Zeroes `[from, to)` within the file, dropping whole pages; returns the pages touched.
    fn zero(&mut self, from: u64, to: u64) -> std::ops::Range<usize> {
        let to = to.min(self.len);
        if from >= to {
            return 0..0;
        }
        let mut pos = from;
        while pos < to {
            let (index, within) = ((pos / PAGE as u64) as usize, (pos % PAGE as u64) as usize);
            let n = (PAGE - within).min((to - pos) as usize);
            if n == PAGE {
                self.pages[index] = None;
            } else if let Some(page) = &mut self.pages[index] {
                Arc::make_mut(page)[within..within + n].fill(0);
            }
            pos += n as u64;
        }
        (from / PAGE as u64) as usize..pages_for(to)
    }

    /// Sets the length; bytes past a shrunk end read as zeros if the file grows again.
    fn set_len(&mut self, len: u64) {
        if len < self.len {
            self.zero(len, self.len);
        }
        self.pages.resize(pages_for(len), None);
        self.len = len;
    }

    fn allocated_pages(&self) -> usize {
        self.pages.iter().filter(|p| p.is_some()).count()
    }
}

struct FileNode {
    current: Data,
    durable: Data,
    /// Pages whose current contents the next successful fsync stores.
    dirty: BTreeSet<usize>,
}

impl FileNode {
    fn new() -> FileNode {
        FileNode {
            current: Data::default(),
            durable: Data::default(),
            dirty: BTreeSet::new(),
        }
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let touched = self.current.write(offset, bytes);
        self.dirty.extend(touched);
    }

    fn set_len(&mut self, len: u64) {
        if len < self.current.len {
            // The pages past the new end change too (to holes), in the durable version as well
            // once synced, even if the file grows again first.
            let last = self.current.pages.len().max(self.durable.pages.len());
            self.dirty.extend((len / PAGE as u64) as usize..last);
        }
        self.current.set_len(len);
    }

    fn zero(&mut self, from: u64, to: u64) {
        let touched = self.current.zero(from, to);
        self.dirty.extend(touched);
    }

    fn sync(&mut self) {
        self.durable.len = self.current.len;
        self.durable.pages.resize(self.current.pages.len(), None);
        for index in std::mem::take(&mut self.dirty) {
            if let Some(page) = self.current.pages.get(index) {
                self.durable.pages[index] = page.clone();
            }
        }
    }
}

#[derive(Default)]
struct DirNode {
    current: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
}

enum Node {
    File(FileNode),
    Dir(DirNode),
}

struct Inode {
    node: Node,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Open handles; an unlinked file stays readable through them.
    open: u32,
}

impl Inode {
    fn new(node: Node, perm: u16, req: &Request) -> Inode {
        let now = SystemTime::now();
        Inode {
            node,
            perm,
            uid: req.uid(),
            gid: req.gid(),
            atime: now,
            mtime: now,
            ctime: now,
            open: 0,
        }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, size, blocks, nlink) = match &self.node {
            Node::File(f) => (
                FileType::RegularFile,
                f.current.len,
                f.current.allocated_pages() as u64 * (PAGE as u64 / 512),
                1,
            ),
            Node::Dir(_) => (FileType::Directory, 4096, 8, 2),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.ctime,
            kind,
            perm: self.perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        }
    }

    fn touch(&mut self) {
        let now = SystemTime::now();
        self.mtime = now;
        self.ctime = now;
    }
}

struct State {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// Errno and number of the file fsyncs still to fail.
    fail_fsyncs: Option<(i32, usize)>,
    fail_writes: Option<i32>,
    fsyncs: u64,
    fsyncdirs: u64,
}

type Res<T> = Result<T, Errno>;

impl State {
    fn new() -> State {
        let now = SystemTime::now();
        let root = Inode {
            node: Node::Dir(DirNode::default()),
            perm: 0o755,
            uid: unsafe { libc::getuid() },
            gid: unsafe { libc::getgid() },
            atime: now,
            mtime: now,
            ctime: now,
            open: 0,
        };
        State {
            inodes: HashMap::from([(INodeNo::ROOT.0, root)]),
            next_ino: INodeNo::ROOT.0 + 1,
            fail_fsyncs: None,
            fail_writes: None,
            fsyncs: 0,
            fsyncdirs: 0,
        }
    }

    fn inode(&mut self, ino: u64) -> Res<&mut Inode> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn file(&mut self, ino: u64) -> Res<&mut FileNode> {
        match &mut self.inode(ino)?.node {
            Node::File(f) => Ok(f),
            Node::Dir(_) => Err(Errno::EISDIR),
        }
    }

    fn dir(&mut self, ino: u64) -> Res<&mut DirNode> {
        match &mut self.inode(ino)?.node {
            Node::Dir(d) => Ok(d),
            Node::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn child(&mut self, parent: u64, name: &OsStr) -> Res<Option<u64>> {
        Ok(self.dir(parent)?.current.get(name).copied())
    }

    fn is_dir(&self, ino: u64) -> bool {
        matches!(self.inodes.get(&ino), Some(Inode { node: Node::Dir(_), .. }))
    }

    fn add(&mut self, parent: u64, name: &OsStr, inode: Inode) -> Res<u64> {
        if self.child(parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        self.dir(parent)?.current.insert(name.to_os_string(), ino);
        self.inode(parent)?.touch();
        Ok(ino)
    }

    /// Drops `ino` once nothing can reach it: no current or durable entry, no open handle.
    fn collect(&mut self, ino: u64) {
        let Some(inode) = self.inodes.get(&ino) else { return };
        if inode.open > 0 {
            return;
        }
        let referenced = self.inodes.values().any(|i| match &i.node {
            Node::Dir(d) => d.current.values().chain(d.durable.values()).any(|&c| c == ino),
            Node::File(_) => false,
        });
        if !referenced {
            self.inodes.remove(&ino);
        }
    }

    fn write(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> Res<()> {
        if let Some(errno) = self.fail_writes {
            return Err(Errno::from_i32(errno));
        }
        self.file(ino)?.write(offset, bytes);
        self.inode(ino)?.touch();
        Ok(())
    }

    fn set_len(&mut self, ino: u64, len: u64) -> Res<()> {
        self.file(ino)?.set_len(len);
        self.inode(ino)?.touch();
        Ok(())
    }

    fn fsync(&mut self, ino: u64) -> Res<()> {
        self.fsyncs += 1;
        let failure = match &mut self.fail_fsyncs {
            Some((errno, left)) if *left > 0 => {
                *left -= 1;
                Some(*errno)
            }
            _ => None,
        };
        let file = self.file(ino)?;
        match failure {
            Some(errno) => {
                // The writeback failed: those pages are clean again without being on disk.
                file.dirty.clear();
                Err(Errno::from_i32(errno))
            }
            None => {
                file.sync();
                Ok(())
            }
        }
    }

    fn rename(&mut self, parent: u64, name: &OsStr, new_parent: u64, new_name: &OsStr, flags: RenameFlags) -> Res<()> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return Err(Errno::EINVAL);
        }
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        if let Some(target) = self.child(new_parent, new_name)? {
            if target == ino {
                return Ok(());
            }
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            match (self.is_dir(ino), self.is_dir(target)) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.dir(target)?.current.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        self.dir(parent)?.current.remove(name);
        let replaced = self.dir(new_parent)?.current.insert(new_name.to_os_string(), ino);
        self.inode(parent)?.touch();
        self.inode(new_parent)?.touch();
        self.inode(ino)?.ctime = SystemTime::now();
        if let Some(old) = replaced {
            self.collect(old);
        }
        Ok(())
    }

    fn remove(&mut self, parent: u64, name: &OsStr, want_dir: bool) -> Res<()> {
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        match (want_dir, self.is_dir(ino)) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !self.dir(ino)?.current.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.dir(parent)?.current.remove(name);
        self.inode(parent)?.touch();
        self.collect(ino);
        Ok(())
    }

    /// Reverts everything to its durable state.
    fn power_cut(&mut self) {
        let mut reachable = HashSet::from([INodeNo::ROOT.0]);
        let mut queue = VecDeque::from([INodeNo::ROOT.0]);
        while let Some(ino) = queue.pop_front() {
            if let Some(Inode { node: Node::Dir(d), .. }) = self.inodes.get(&ino) {
                for &child in d.durable.values() {
                    if reachable.insert(child) {
                        queue.push_back(child);
                    }
                }
            }
        }
        self.inodes.retain(|ino, _| reachable.contains(ino));
        for inode in self.inodes.values_mut() {
            match &mut inode.node {
                Node::File(f) => {
                    f.current = f.durable.clone();
                    f.dirty.clear();
                }
                Node::Dir(d) => d.current = d.durable.clone(),
            }
        }
    }

    /// The durable contents of the file at `rel` (walking durable entries only).
    fn durable_contents(&self, rel: &Path) -> Option<Vec<u8>> {
        let mut ino = INodeNo::ROOT.0;
        for part in rel.components() {
            let Node::Dir(d) = &self.inodes.get(&ino)?.node else {
                return None;
            };
            ino = *d.durable.get(part.as_os_str())?;
        }
        match &self.inodes.get(&ino)?.node {
            Node::File(f) => Some(f.durable.read(0, f.durable.len as usize)),
            Node::Dir(_) => None,
        }
    }
}

/// The FUSE side: handlers over the shared state.
struct Handlers {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking handler must not take the whole filesystem (and the test) down with it.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handlers {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn reply_empty(reply: ReplyEmpty, result: Res<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn reply_entry(reply: ReplyEntry, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for Handlers {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.state();
        let result = s
            .child(parent.0, name)
            .and_then(|c| c.ok_or(Errno::ENOENT))
            .and_then(|ino| Ok(s.inode(ino)?.attr(ino)));
        reply_entry(reply, result);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().inode(ino.0) {
            Ok(inode) => reply.attr(&TTL, &inode.attr(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.state();
        let result = (|| {
            if let Some(len) = size {
                s.set_len(ino.0, len)?;
            }
            let inode = s.inode(ino.0)?;
            let time = |t: TimeOrNow| match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => SystemTime::now(),
            };
            if let Some(mode) = mode {
                inode.perm = (mode & 0o7777) as u16;
            }
            if let Some(uid) = uid {
                inode.uid = uid;
            }
            if let Some(gid) = gid {
                inode.gid = gid;
            }
            if let Some(t) = atime {
                inode.atime = time(t);
            }
            if let Some(t) = mtime {
                inode.mtime = time(t);
            }
            inode.ctime = SystemTime::now();
            Ok(inode.attr(ino.0))
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let mut s = self.state();
        let inode = Inode::new(Node::File(FileNode::new()), (mode & !umask & 0o7777) as u16, req);
        let result = s.add(parent.0, name, inode).and_then(|ino| Ok(s.inode(ino)?.attr(ino)));
        reply_entry(reply, result);
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let mut s = self.state();
        let inode = Inode::new(Node::Dir(DirNode::default()), (mode & !umask & 0o7777) as u16, req);
        let result = s.add(parent.0, name, inode).and_then(|ino| Ok(s.inode(ino)?.attr(ino)));
        reply_entry(reply, result);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.state().remove(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.state().remove(parent.0, name, true));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.state().rename(parent.0, name, newparent.0, newname, flags));
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.state();
        let result = (|| {
            s.file(ino.0)?;
            if flags.0 & libc::O_TRUNC != 0 && flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
                s.set_len(ino.0, 0)?;
            }
            s.inode(ino.0)?.open += 1;
            Ok(())
        })();
        match result {
            // Neither direct I/O (shared writable mappings need the page cache) nor a kept
            // cache (a power cut must not leave stale pages behind).
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.state();
        let result = (|| {
            let ino = match s.child(parent.0, name)? {
                Some(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Some(ino) => {
                    s.file(ino)?;
                    if flags & libc::O_TRUNC != 0 {
                        s.set_len(ino, 0)?;
                    }
                    ino
                }
                None => {
                    let inode = Inode::new(Node::File(FileNode::new()), (mode & !umask & 0o7777) as u16, req);
                    s.add(parent.0, name, inode)?
                }
            };
            let inode = s.inode(ino)?;
            inode.open += 1;
            Ok(inode.attr(ino))
        })();
        match result {
            Ok(attr) => reply.created(&TTL, &attr, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.state().file(ino.0) {
            Ok(f) => reply.data(&f.current.read(offset, size as usize)),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.state().write(ino.0, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        if let Ok(inode) = s.inode(ino.0) {
            inode.open = inode.open.saturating_sub(1);
            s.collect(ino.0);
        }
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        reply_empty(reply, self.state().fsync(ino.0));
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut s = self.state();
        let children: Vec<(u64, OsString)> = match s.dir(ino.0) {
            Ok(d) => d.current.iter().map(|(name, &c)| (c, name.clone())).collect(),
            Err(e) => return reply.error(e),
        };
        let dots = [(ino.0, OsString::from(".")), (ino.0, OsString::from(".."))];
        // Offsets are positions in the sorted listing: a directory changed between two calls may
        // list a name twice or not at all, as POSIX allows.
        for (i, (child, name)) in dots.into_iter().chain(children).enumerate().skip(offset as usize) {
            let kind = if s.is_dir(child) {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut s = self.state();
        s.fsyncdirs += 1;
        let dropped = match s.dir(ino.0) {
            Ok(d) => {
                let old = std::mem::replace(&mut d.durable, d.current.clone());
                old.into_values()
                    .filter(|c| !d.current.values().any(|n| n == c))
                    .collect::<Vec<_>>()
            }
            Err(e) => return reply.error(e),
        };
        // What was unlinked or renamed away is now gone for good.
        for c in dropped {
            s.collect(c);
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // 4 TiB, all free: disk-full is injected with `fail_writes`, never reached by accident.
        let blocks = 1 << 30;
        reply.statfs(blocks, blocks, blocks, 1 << 24, 1 << 24, PAGE as u32, 255, PAGE as u32);
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = self.state();
        let result = (|| {
            let end = offset.checked_add(length).ok_or(Errno::EFBIG)?;
            let len = s.file(ino.0)?.current.len;
            let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
            match mode & !libc::FALLOC_FL_KEEP_SIZE {
                0 => {
                    if end > len && !keep_size {
                        if let Some(errno) = s.fail_writes {
                            return Err(Errno::from_i32(errno));
                        }
                        s.set_len(ino.0, end)?;
                    }
                    Ok(())
                }
                libc::FALLOC_FL_PUNCH_HOLE if keep_size => {
                    s.file(ino.0)?.zero(offset, end);
                    s.inode(ino.0)?.touch();
                    Ok(())
                }
                libc::FALLOC_FL_ZERO_RANGE => {
                    if end > len && !keep_size {
                        if let Some(errno) = s.fail_writes {
                            return Err(Errno::from_i32(errno));
                        }
                        s.set_len(ino.0, end)?;
                    }
                    s.file(ino.0)?.zero(offset, end);
                    s.inode(ino.0)?.touch();
                    Ok(())
                }
                _ => Err(Errno::EOPNOTSUPP),
            }
        })();
        reply_empty(reply, result);
    }
}

/// A mounted fault-injection filesystem; unmounted (lazily) when dropped.
pub struct FaultFs {
    state: Arc<Mutex<State>>,
    notifier: Notifier,
    // Dropped after `Drop::drop` has detached the mount: its own unmount then finds nothing.
    session: Option<BackgroundSession>,
    /// The kernel's id of the FUSE connection (the mount's device number).
    connection: u64,
    mountpoint: tempfile::TempDir,
}

impl FaultFs {
    /// Mounts a new, empty filesystem at a fresh temporary directory.
    pub fn mount() -> FaultFs {
        let mountpoint = tempfile::Builder::new()
            .prefix("rivulet-faultfs-")
            .tempdir()
            .expect("create a mount point");
        let state = Arc::new(Mutex::new(State::new()));
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName(FS_NAME.into()),
            MountOption::Subtype("faultfs".into()),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        // More than one: a request that waits on the kernel (an invalidation writing back dirty
        // pages) must not stall the others.
        config.n_threads = Some(4);
        let handlers = Handlers {
            state: Arc::clone(&state),
        };
        let session = fuser::spawn_mount(handlers, mountpoint.path(), &config).unwrap_or_else(|e| {
            panic!(
                "mounting the fault-injection FUSE filesystem at {} failed (needs /dev/fuse and root): {e}",
                mountpoint.path().display()
            )
        });
        // The mount is served once the kernel's INIT has been answered.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !is_mounted(mountpoint.path()) {
            assert!(std::time::Instant::now() < deadline, "the FUSE mount did not appear");
            std::thread::sleep(Duration::from_millis(5));
        }
        let connection = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(mountpoint.path()).expect("stat the mount").dev()
        };
        FaultFs {
            state,
            notifier: session.notifier(),
            session: Some(session),
            connection,
            mountpoint,
        }
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        self.mountpoint.path()
    }

    /// Loses power: every file and directory reverts to its durable state. Call it only once
    /// every process writing to the filesystem is dead; afterwards the reverted filesystem is
    /// served as if after a reboot.
    pub fn power_cut(&self) {
        // Pages dirtied through a dead process's shared mappings are still in the kernel's page
        // cache and would be written back later, into the reverted state. Write them back now,
        // into the current contents that the power cut is about to throw away.
        let root = CString::new(self.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: plain open/syncfs/close on a path this struct mounted.
        unsafe {
            let fd = libc::open(root.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
            assert!(
                fd >= 0,
                "open {}: {}",
                self.path().display(),
                io::Error::last_os_error()
            );
            let rc = libc::syncfs(fd);
            let err = io::Error::last_os_error();
            libc::close(fd);
            assert_eq!(rc, 0, "syncfs {}: {err}", self.path().display());
        }
        let inodes: Vec<u64> = {
            let mut s = lock(&self.state);
            s.power_cut();
            s.inodes.keys().copied().collect()
        };
        // Drop the kernel's cached pages and attributes of what survived, so reads see the
        // reverted contents. Inodes the kernel does not know answer ENOENT, which is fine.
        for ino in inodes {
            let _ = self.notifier.inval_inode(INodeNo(ino), 0, 0);
        }
    }

    /// Fails the next `count` file fsyncs (and fdatasyncs) with `errno`, losing the data they
    /// were to store as a failed writeback does (see the module documentation).
    pub fn fail_next_fsyncs(&self, errno: i32, count: usize) {
        lock(&self.state).fail_fsyncs = Some((errno, count));
    }

    /// While `Some`, every write and every fallocate that grows a file fails with `errno`
    /// (`ENOSPC` for a full disk).
    pub fn fail_writes(&self, errno: Option<i32>) {
        lock(&self.state).fail_writes = errno;
    }

    /// File fsyncs and fdatasyncs served so far, failed ones included.
    pub fn fsync_count(&self) -> u64 {
        lock(&self.state).fsyncs
    }

    /// Directory fsyncs served so far.
    pub fn fsyncdir_count(&self) -> u64 {
        lock(&self.state).fsyncdirs
    }

    /// What a power cut now would leave of the file at `rel` (relative to [`FaultFs::path`]),
    /// or None if it would not exist. Reads nothing through the kernel.
    pub fn durable_contents(&self, rel: impl AsRef<Path>) -> Option<Vec<u8>> {
        lock(&self.state).durable_contents(rel.as_ref())
    }
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        // Lazily: a file still open (a broker that outlived a failed test) must not keep the
        // mount behind; the kernel finishes the unmount when the last user is gone.
        detach(self.path());
        // Fail whatever still waits on the filesystem (a process that outlived its test) instead
        // of leaving it blocked for good once the serving threads are gone.
        let abort = format!("/sys/fs/fuse/connections/{}/abort", self.connection);
        let _ = std::fs::write(abort, "1");
        drop(self.session.take());
    }
}

fn detach(path: &Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: umount2 on a path; errors (e.g. already unmounted) are ignored.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Mount points of this file system type listed in /proc/self/mountinfo.
fn our_mounts() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut right = right.split(' ');
            let (_fstype, source) = (right.next()?, right.next()?);
            if source != FS_NAME {
                return None;
            }
            Some(PathBuf::from(unescape_mountinfo(left.split(' ').nth(4)?)))
        })
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_mounted(path: &Path) -> bool {
    our_mounts().iter().any(|m| m == path)
}
