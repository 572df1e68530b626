# SPDX-License-Identifier: MIT
"""Bad --disk values: one clear line and a non-zero status before any guest
starts, whichever engine; files are left exactly as they were, and nothing
is left behind."""
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

from test_run_errors import ENGINES, one_line, run


def fingerprint(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_mode,
            hashlib.sha256(open(path, "rb").read()).hexdigest())


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "disk.img"
    p.write_bytes(os.urandom(1 << 20))
    return p


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_file_without_size(domus, guest, engine, tmp_path):
    p = tmp_path / "nope.img"
    rc, out, err = run(domus, "--engine", engine, "--disk", str(p))
    assert rc == 1
    line = one_line(err)
    assert "No such file or directory" in line and "size=" in line, line
    assert not p.exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_directory(domus, guest, engine, tmp_path):
    rc, out, err = run(domus, "--engine", engine, "--disk", str(tmp_path))
    assert rc == 1
    assert "directory" in one_line(err)


def as_nobody(domus, engine, *disk_args):
    """domus run as an unprivileged user (root opens anything)."""
    cmd = [domus, "run", "--engine", engine]
    for a in disk_args:
        cmd += ["--disk", a]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


@pytest.fixture
def open_dir():
    """A directory everyone can enter (pytest's tmp_path is under a 0700 one)."""
    d = tempfile.mkdtemp(prefix="domus-disk-perm-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


@pytest.mark.parametrize("engine", ENGINES)
def test_file_without_permission(domus, guest, engine, open_dir):
    img = os.path.join(open_dir, "disk.img")
    with open(img, "wb") as f:
        f.write(os.urandom(1 << 20))
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file another user can't open")
    # nobody may neither read nor write it
    os.chmod(img, 0o600)
    before = fingerprint(img)
    rc, err = as_nobody(domus, engine, img)
    assert rc == 1, err
    assert "no permission to read it" in one_line(err)
    # nobody may read it, not write it: the error says how to use it anyway
    os.chmod(img, 0o644)
    rc, err = as_nobody(domus, engine, img)
    assert rc == 1, err
    assert "no permission to write it (add ,readonly" in one_line(err)
    after = fingerprint(img)
    assert (after[0], after[1], after[3]) == (before[0], before[1], before[3])  # mode changed by us


@pytest.mark.parametrize("spec,needle", [
    ("{p},size=10Q", "expected a size"),
    ("{p},size=", "size needs a value"),
    ("{p},size=1000", "not a multiple of 512"),
    ("{p},bogus", "unknown option 'bogus'"),
    ("{p},readonly,readonly", "given twice"),
    ("{p},serial=this-serial-is-far-too-long", "longer than 20"),
    ("", "empty value"),
])
@pytest.mark.parametrize("engine", ENGINES)
def test_bad_option(domus, guest, engine, image, spec, needle):
    before = fingerprint(image)
    rc, out, err = run(domus, "--engine", engine, "--disk", spec.format(p=image))
    assert rc == 2
    assert needle in one_line(err)
    assert fingerprint(image) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_same_writable_file_twice(domus, guest, engine, image, tmp_path):
    before = fingerprint(image)
    link = tmp_path / "other-name.img"
    link.symlink_to(image)
    rc, out, err = run(domus, "--engine", engine, "--disk", str(image), "--disk", str(link))
    assert rc == 1
    assert "the same file" in one_line(err)
    assert fingerprint(image) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_size_does_not_match_existing_file(domus, guest, engine, image):
    before = fingerprint(image)
    rc, out, err = run(domus, "--engine", engine, "--disk", f"{image},size=2M")
    assert rc == 1
    assert "size" in one_line(err)
    assert fingerprint(image) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_created_file_is_removed_when_a_later_disk_fails(domus, guest, engine, tmp_path):
    new = tmp_path / "new.img"
    rc, out, err = run(domus, "--engine", engine, "--disk", f"{new},size=1M",
                       "--disk", str(tmp_path / "missing.img"))
    assert rc == 1
    assert "missing.img" in one_line(err)
    assert not new.exists()
    assert sorted(os.listdir(tmp_path)) == []   # no temp file either


@pytest.mark.parametrize("engine", ENGINES)
def test_readonly_missing_file_is_not_created(domus, guest, engine, tmp_path):
    p = tmp_path / "ro.img"
    rc, out, err = run(domus, "--engine", engine, "--disk", f"{p},readonly,size=1M")
    assert rc == 1
    assert "read-only disk is not created" in one_line(err)
    assert not p.exists()


def test_disk_held_by_another_domus(domus, guest, image):
    """A writable disk is locked while a VM uses it: a second VM is refused."""
    import fcntl
    import struct
    before = fingerprint(image)
    # an exclusive OFD lock over the whole file, as a running domus holds
    fd = os.open(image, os.O_RDWR)
    try:
        F_OFD_SETLK = 37
        fcntl.fcntl(fd, F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
        rc, out, err = run(domus, "--engine", "qemu", "--disk", str(image))
        assert rc == 1
        assert "in use" in one_line(err)
    finally:
        os.close(fd)
    assert fingerprint(image) == before
