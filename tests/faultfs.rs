//! The fault-injection filesystem the durability tests stand on (tests/common/faultfs.rs):
//! plain POSIX semantics, what a power cut keeps and loses, failed fsyncs and writes, shared
//! mappings, and a real broker carried through a kill -9 and a power cut.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use common::faultfs::FaultFs;
use common::*;
use memmap2::MmapMut;

fn fsync_dir(dir: &Path) {
    File::open(dir).unwrap().sync_all().unwrap();
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or_else(|| panic!("not an OS error: {e}"))
}

#[test]
fn plain_file_semantics() {
    let ffs = FaultFs::mount();
    let root = ffs.path();

    // Write, append, pwrite, read back.
    let a = root.join("a");
    fs::write(&a, b"hello").unwrap();
    let mut f = OpenOptions::new().append(true).open(&a).unwrap();
    f.write_all(b" world").unwrap();
    drop(f);
    assert_eq!(read(&a), b"hello world");
    let f = OpenOptions::new().read(true).write(true).open(&a).unwrap();
    f.write_all_at(b"J", 0).unwrap();
    f.write_all_at(b"!", 20).unwrap();
    let mut expected = b"Jello world".to_vec();
    expected.resize(20, 0);
    expected.push(b'!');
    assert_eq!(read(&a), expected, "a write past the end leaves a zero gap");
    assert_eq!(fs::metadata(&a).unwrap().len(), 21);

    // A large write crosses many pages and reads back exactly.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("big"), &big).unwrap();
    assert_eq!(read(&root.join("big")), big);

    // Rename over an existing file replaces it.
    fs::write(root.join("b"), b"bee").unwrap();
    fs::rename(root.join("b"), &a).unwrap();
    assert_eq!(read(&a), b"bee");
    assert!(!root.join("b").exists());

    // Truncate down and up: the regrown tail reads as zeros.
    let f = OpenOptions::new().read(true).write(true).open(&a).unwrap();
    f.set_len(1).unwrap();
    assert_eq!(read(&a), b"b");
    f.set_len(4).unwrap();
    assert_eq!(read(&a), b"b\0\0\0");
    // O_TRUNC empties.
    drop(File::create(&a).unwrap());
    assert_eq!(fs::metadata(&a).unwrap().len(), 0);

    // Punching a hole keeps the size and reads zeros, and frees whole pages.
    let p = root.join("holes");
    let data = vec![0xabu8; 64 * 1024];
    fs::write(&p, &data).unwrap();
    let f = OpenOptions::new().read(true).write(true).open(&p).unwrap();
    let blocks_before = fs::metadata(&p).unwrap().blocks();
    // SAFETY: fallocate on an open file descriptor.
    let rc = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            100,
            40_000,
        )
    };
    assert_eq!(rc, 0, "punch hole: {}", io::Error::last_os_error());
    let mut got = Vec::new();
    File::open(&p).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), data.len(), "punching a hole keeps the size");
    assert!(got[..100].iter().all(|&b| b == 0xab));
    assert!(got[100..40_100].iter().all(|&b| b == 0), "the hole reads as zeros");
    assert!(got[40_100..].iter().all(|&b| b == 0xab));
    assert!(
        fs::metadata(&p).unwrap().blocks() < blocks_before,
        "whole pages were freed"
    );
    // Plain preallocation grows the file.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, 100_000) }, 0);
    assert_eq!(fs::metadata(&p).unwrap().len(), 100_000);

    // Directories: mkdir, readdir, rmdir (only when empty), unlink.
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("d/x"), b"x").unwrap();
    fs::write(root.join("d/y"), b"y").unwrap();
    assert_eq!(names(&root.join("d")), ["x", "y"]);
    assert_eq!(names(root), ["a", "big", "d", "holes"]);
    let err = fs::remove_dir(root.join("d")).unwrap_err();
    assert_eq!(errno(&err), libc::ENOTEMPTY);
    fs::remove_file(root.join("d/x")).unwrap();
    fs::rename(root.join("d/y"), root.join("y")).unwrap();
    fs::remove_dir(root.join("d")).unwrap();
    assert_eq!(names(root), ["a", "big", "holes", "y"]);
    assert_eq!(read(&root.join("y")), b"y");

    // An unlinked file stays readable through an open descriptor.
    let f = File::open(root.join("y")).unwrap();
    fs::remove_file(root.join("y")).unwrap();
    let mut buf = [0u8; 1];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"y");

    // flock is served (by the kernel) and excludes a second holder.
    let l1 = File::create(root.join(".lock")).unwrap();
    let l2 = File::open(root.join(".lock")).unwrap();
    // SAFETY: flock on open file descriptors.
    unsafe {
        assert_eq!(libc::flock(l1.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB), 0);
        assert_eq!(libc::flock(l2.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB), -1);
    }

    let st = nix_statvfs(root);
    assert!(st.0 * st.1 > 1 << 40, "statfs reports plenty of free space");
}

/// (free blocks, fragment size) per statvfs(3).
fn nix_statvfs(path: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: statvfs into a zeroed struct.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        assert_eq!(libc::statvfs(c.as_ptr(), &mut st), 0);
        (st.f_bavail, st.f_frsize)
    }
}

#[test]
fn power_cut_keeps_exactly_what_was_made_durable() {
    let ffs = FaultFs::mount();
    let root = ffs.path();

    // Synced file and entry; then an unsynced append.
    let synced = root.join("synced");
    let mut f = File::create(&synced).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_all().unwrap();
    fsync_dir(root);
    f.write_all(b" and not").unwrap();
    drop(f);

    // Never synced at all, but its directory entry is: exists, empty.
    fs::write(root.join("empty"), b"not synced").unwrap();
    fsync_dir(root);

    // A durable rename target and source.
    fs::write(root.join("old"), b"old").unwrap();
    fs::write(root.join("new"), b"new").unwrap();
    File::open(root.join("old")).unwrap().sync_all().unwrap();
    File::open(root.join("new")).unwrap().sync_all().unwrap();
    fsync_dir(root);

    // A subdirectory whose file, own entries and entry in the root are synced: survives.
    fs::create_dir(root.join("kept")).unwrap();
    fs::write(root.join("kept/f"), b"kept").unwrap();
    File::open(root.join("kept/f")).unwrap().sync_all().unwrap();
    fsync_dir(&root.join("kept"));
    fsync_dir(root);
    // A truncation not synced reverts too.
    OpenOptions::new()
        .write(true)
        .open(root.join("kept/f"))
        .unwrap()
        .set_len(1)
        .unwrap();

    // The same, but the root is not synced again: vanishes with its durable file.
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("sub/f"), b"f").unwrap();
    File::open(root.join("sub/f")).unwrap().sync_all().unwrap();
    fsync_dir(&root.join("sub"));

    // After the root's last fsync: a rename over a durable file, and an unlink. Both revert.
    fs::rename(root.join("new"), root.join("old")).unwrap();
    fs::remove_file(root.join("empty")).unwrap();
    assert_eq!(read(&root.join("old")), b"new");

    // Data fsynced, entry never (the root's last fsync was before it): vanishes.
    let orphan = root.join("orphan");
    let f = File::create(&orphan).unwrap();
    f.write_all_at(b"lost with its entry", 0).unwrap();
    f.sync_data().unwrap();
    drop(f);

    assert_eq!(ffs.durable_contents("synced").as_deref(), Some(&b"durable"[..]));
    assert_eq!(ffs.durable_contents("orphan"), None);
    ffs.power_cut();

    assert_eq!(
        read(&synced),
        b"durable",
        "fsynced data survives, unsynced data vanishes"
    );
    assert!(!orphan.exists(), "a file whose entry was never synced vanishes");
    assert_eq!(
        read(&root.join("empty")),
        b"",
        "a synced entry of unsynced data is empty"
    );
    assert_eq!(read(&root.join("old")), b"old", "an unsynced rename reverts");
    assert_eq!(read(&root.join("new")), b"new", "the rename's source is back");
    assert!(
        !root.join("sub").exists(),
        "a directory whose entry was not synced vanishes"
    );
    assert_eq!(read(&root.join("kept/f")), b"kept");
    assert_eq!(names(root), ["empty", "kept", "new", "old", "synced"]);

    // The reverted filesystem is served normally: write, sync, cut again.
    fs::write(root.join("after"), b"after").unwrap();
    File::open(root.join("after")).unwrap().sync_all().unwrap();
    fsync_dir(root);
    ffs.power_cut();
    assert_eq!(read(&root.join("after")), b"after");
}

#[test]
fn a_failed_fsync_loses_its_data_even_after_a_later_successful_one() {
    let ffs = FaultFs::mount();
    let root = ffs.path();
    let path = root.join("f");
    let mut f = File::create(&path).unwrap();
    f.write_all(b"synced;").unwrap();
    f.sync_all().unwrap();
    fsync_dir(root);

    f.write_all(b"doomed").unwrap();
    ffs.fail_next_fsyncs(libc::EIO, 1);
    let before = ffs.fsync_count();
    let err = f.sync_data().unwrap_err();
    assert_eq!(errno(&err), libc::EIO, "the fsync reports the failure: {err}");
    f.sync_data().expect("the next fsync succeeds");
    assert_eq!(ffs.fsync_count(), before + 2);
    assert_eq!(
        read(&path),
        b"synced;doomed",
        "reads still see the data until power is lost"
    );
    drop(f);

    ffs.power_cut();
    let got = read(&path);
    assert_eq!(
        got, b"synced;\0\0\0\0\0\0",
        "the failed write-back is not redone: the size was stored, the data was not"
    );

    // ENOSPC the same way; data written after the failure is stored by the next fsync.
    let other = root.join("g");
    let mut f = File::create(&other).unwrap();
    fsync_dir(root);
    f.write_all(&[1u8; 8192]).unwrap();
    ffs.fail_next_fsyncs(libc::ENOSPC, 1);
    assert_eq!(errno(&f.sync_all().unwrap_err()), libc::ENOSPC);
    f.write_all(&[2u8; 4096]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    ffs.power_cut();
    let got = read(&other);
    assert_eq!(got.len(), 3 * 4096);
    assert!(
        got[..8192].iter().all(|&b| b == 0),
        "the pages of the failed fsync are lost"
    );
    assert!(
        got[8192..].iter().all(|&b| b == 2),
        "the page written afterwards is stored"
    );
}

#[test]
fn failing_writes_report_enospc_until_cleared() {
    let ffs = FaultFs::mount();
    let path = ffs.path().join("f");
    let mut f = File::create(&path).unwrap();
    f.write_all(b"before").unwrap();

    ffs.fail_writes(Some(libc::ENOSPC));
    let err = f.write_all(b"during").unwrap_err();
    assert_eq!(errno(&err), libc::ENOSPC, "{err}");
    assert_eq!(errno(&f.write_all_at(b"x", 0).unwrap_err()), libc::ENOSPC);
    // SAFETY: fallocate on an open file descriptor.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, 1 << 20) };
    assert_eq!(rc, -1, "a growing fallocate fails on a full disk");
    assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(read(&path), b"before");

    ffs.fail_writes(None);
    f.write_all(b" after").unwrap();
    assert_eq!(read(&path), b"before after");
}

/// Runs `f` in a forked child process and fails the test if it fails. Files of a `FaultFs` are
/// mapped only outside the process serving it (see tests/common/faultfs.rs).
fn in_child(what: &str, f: impl FnOnce() -> Result<(), String>) {
    // SAFETY: the child runs `f` (memory-mapping system calls and plain memory access) and leaves
    // with _exit; glibc keeps malloc usable after fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(())) => 0,
            Ok(Err(msg)) => {
                let msg = format!("{what}: {msg}\n");
                // SAFETY: write(2) of a buffer we own to stderr.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                1
            }
            Err(_) => 2,
        };
        // SAFETY: ends the child without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what}: the child failed (status {status:#x})"
    );
}

fn check(cond: bool, msg: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg.to_string()) }
}

fn map(file: &File) -> Result<MmapMut, String> {
    // SAFETY: the file is private to this test and not resized while mapped.
    unsafe { MmapMut::map_mut(file) }.map_err(|e| format!("mmap: {e}"))
}

#[test]
fn shared_mappings_are_written_back_and_durable_only_once_synced() {
    let ffs = FaultFs::mount();
    let root = ffs.path();
    let open = |name: &str| {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(root.join(name))
            .unwrap();
        f.set_len(3 * 4096).unwrap();
        f
    };
    let (msynced, unsynced, fsynced, punched) = (open("msynced"), open("unsynced"), open("fsynced"), open("punched"));
    fsync_dir(root);

    // msync(MS_SYNC) writes the dirty pages back and syncs them (Linux's msync is an fdatasync
    // of the range).
    let before = ffs.fsync_count();
    in_child("msync", || {
        let mut m = map(&msynced)?;
        m[5000..5005].copy_from_slice(b"msync");
        m.flush().map_err(|e| format!("msync: {e}"))
    });
    assert!(ffs.fsync_count() > before, "msync reaches the filesystem's fsync");

    // Written through the mapping and written back (MS_ASYNC, then unmapped), never synced.
    in_child("unsynced", || {
        let mut m = map(&unsynced)?;
        m[100..108].copy_from_slice(b"unsynced");
        m.flush_async().map_err(|e| format!("msync: {e}"))
    });
    assert_eq!(
        &read(&root.join("unsynced"))[100..108],
        b"unsynced",
        "written back at unmap"
    );

    // Written through the mapping, then the file fsynced: the fsync writes the pages back first.
    // Dirtied again afterwards and left for the kernel to write back when the child exits.
    in_child("fsynced", || {
        let mut m = map(&fsynced)?;
        m[9000..9007].copy_from_slice(b"fsynced");
        fsynced.sync_all().map_err(|e| format!("fsync: {e}"))?;
        m[0..5].copy_from_slice(b"dirty");
        Ok(())
    });

    // A punched hole in a mapped file reads as zeros through the mapping.
    in_child("punched", || {
        let mut m = map(&punched)?;
        m.fill(7);
        m.flush().map_err(|e| format!("msync: {e}"))?;
        // SAFETY: fallocate on an open file descriptor.
        let rc = unsafe {
            libc::fallocate(
                punched.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                4096,
                4096,
            )
        };
        check(rc == 0, "punch hole failed")?;
        check(
            m[4096..8192].iter().all(|&b| b == 0),
            "the hole reads as zeros through the mapping",
        )?;
        check(
            m[..4096].iter().all(|&b| b == 7),
            "the bytes before the hole are intact",
        )
    });

    drop((msynced, unsynced, fsynced, punched));
    ffs.power_cut();

    let got = read(&root.join("msynced"));
    assert_eq!(&got[5000..5005], b"msync");
    let got = read(&root.join("unsynced"));
    assert!(got.iter().all(|&b| b == 0), "mapped writes never synced are lost");
    let got = read(&root.join("fsynced"));
    assert_eq!(&got[9000..9007], b"fsynced");
    assert_eq!(&got[0..5], b"\0\0\0\0\0", "pages dirtied after the last fsync are lost");
    // Only the msync (an fdatasync) made the punched file durable: the hole is not.
    let got = read(&root.join("punched"));
    assert!(got.iter().all(|&b| b == 7));
}

#[test]
fn a_broker_runs_on_the_filesystem_and_keeps_acknowledged_records_across_power_loss() {
    let ffs = FaultFs::mount();
    // The broker creates its data directory itself, and must make that directory's entry
    // durable too: otherwise a power cut takes the whole directory with it.
    let data = ffs.path().join("data");
    let mut broker = BrokerProcess::start(&data, &[]);
    let topic = "power-cut";
    create_topic(&broker.bootstrap(), topic, 2, &[]);
    let producer = tracked_producer(&broker.bootstrap(), &[]);
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..2000)
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                format!("value {i} {}", "x".repeat(i % 300)).into_bytes(),
            )
        })
        .collect();
    let acked = produce_all(&producer, topic, None, &records);
    drop(producer);
    assert!(ffs.fsync_count() > 0, "acks=all made the broker fsync");

    broker.kill9();
    ffs.power_cut();

    let broker = BrokerProcess::start(&data, &[]);
    let consumed = consume_to_end(&broker.bootstrap(), topic, 2);
    for (i, ((partition, offset), (key, value))) in acked.iter().zip(&records).enumerate() {
        let got = consumed[*partition as usize]
            .iter()
            .find(|r| r.offset == *offset)
            .unwrap_or_else(|| panic!("acknowledged record #{i} at {partition}/{offset} was lost"));
        assert_eq!(got.key.as_deref(), Some(&key[..]), "record #{i}");
        assert_eq!(got.value.as_deref(), Some(&value[..]), "record #{i}");
    }
}
