"""pfs: files -- ModifyFile (put, delete, copy), GetFile, GetFileTAR, InspectFile, ListFile,
GlobFile, WalkFile, DiffFile. Directories are implied by the files under them and listed
as pachd lists them: a trailing "/", type DIR, the size of what is under them."""
from __future__ import annotations

import tarfile
from typing import Iterator

import betterproto
from betterproto.lib.google.protobuf import Empty
from pachyderm_sdk.api import pfs

from pipelines import protojson
from pipelines.pps.globs import GlobError, glob_paths
from pipelines.pachd import status
from pipelines.pachd.convert import message
from pipelines.pachd.refs import Ref, Refs, clean_path

PIECE = 1 << 20  # bytes per GetFile message (pachd sends up to its 20 MB limit; any size reads the same)


class Entry:
    """A file or an implied directory of a commit."""

    def __init__(self, path: str, kind: str, size: int, hash: str | None = None) -> None:
        self.path, self.kind, self.size, self.hash = path, kind, size, hash

    def info(self, ref: Ref) -> pfs.FileInfo:
        shown = self.path if self.kind == "file" or self.path == "/" else self.path + "/"
        return message(pfs.FileInfo, protojson.file_info(ref.repo, ref.id, shown, self.kind, self.size, self.hash,
                                                         ref.commit.finished))


class Files:
    SERVICE = "pfs_v2.API"

    def __init__(self, engine, refs: Refs, poke=lambda: None) -> None:
        self.e = engine
        self.refs = refs
        self.open = refs.open
        self.poke = poke  # a one-off commit (put file on a branch) is processed as it lands

    # -- a commit's tree ------------------------------------------------------------------------
    def _readable(self, ref: Ref) -> Ref:
        if ref.open:
            raise status.PachdError(status.grpc.StatusCode.UNAVAILABLE,
                                    f"commit {status.commit_str(ref.repo, ref.id)} not finished")
        return ref

    def _entries(self, ref: Ref, prefix: str = "/") -> dict[str, Entry]:
        """Every file at or under prefix and every directory above one, by path."""
        out: dict[str, Entry] = {}
        for f in self.e.store.files(ref.repo, ref.id, prefix):
            out[f.path] = Entry(f.path, "file", f.size, f.hash)
            parts = f.path.strip("/").split("/")
            for i in range(len(parts) - 1, -1, -1):
                d = "/" + "/".join(parts[:i])
                if not d.startswith(prefix.rstrip("/")) and prefix != "/":
                    break
                e = out.setdefault(d, Entry(d, "dir", 0))
                e.size += f.size
        return out

    def _entry(self, ref: Ref, path: str) -> Entry:
        found = self._entries(ref, path).get(path)
        if found is None or (path == "/" and found.size == 0 and not self.e.store.files(ref.repo, ref.id)):
            if path == "/":
                return Entry("/", "dir", 0)
            raise status.file_not_found(ref.repo, ref.id, path)
        return found

    # -- writing ---------------------------------------------------------------------------------
    def ModifyFile(self, requests: Iterator[pfs.ModifyFileRequest], context) -> Empty:
        staged, one_off = None, False
        try:
            for r in requests:
                op, value = betterproto.which_one_of(r, "body")
                if op == "set_commit":
                    if one_off:
                        self._finish_one_off(staged)
                    staged, one_off = self._target(value)
                    continue
                if staged is None:
                    raise status.unknown("first message must be a commit")
                self._apply(staged, op, value)
        except BaseException:
            if one_off and staged is not None:
                self.open.discard(staged)
            raise
        if one_off:
            self._finish_one_off(staged)
        return Empty()

    def _target(self, commit: pfs.Commit):
        """The open commit a ModifyFile writes to. Named by a branch whose head is finished
        (or a branch not made yet), a one-off commit on it, finished at the end of the call, as
        pachd's oneOffModifyFile does (this is how `pachctl put file repo@branch` commits)."""
        by_branch = not commit.id and commit.branch and commit.branch.name
        if by_branch:
            repo, branch = self.refs.branch(pfs.Branch(repo=commit.repo or commit.branch.repo, name=commit.branch.name))
            if self.open.on_branch(repo, branch) is None:
                if self.e.store.repo(repo)["type"] != "user":
                    raise status.commit_on_output_branch(repo, branch)
                return self.open.start(repo, branch), True
        ref = self.refs.commit(commit)
        staged = self.open.get(ref.repo, ref.id)
        if staged is None:
            raise status.commit_finished(ref.repo, ref.id)
        return staged, False

    def _finish_one_off(self, staged) -> None:
        self.open.finish(staged)
        self.poke()

    def _apply(self, staged, op: str, value) -> None:
        if op == "add_file":
            source, data = betterproto.which_one_of(value, "source")
            if source != "raw":
                raise status.unimplemented("ModifyFile", "put file from a URL (the local pachd fetches nothing "
                                           "from the network); put the bytes instead")
            self.open.append(staged, clean_path(value.path), data or b"")
        elif op == "delete_file":
            self.open.delete(staged, clean_path(value.path))
        elif op == "copy_file":
            src_ref, src_path = self.refs.file(value.src)
            self._readable(src_ref)
            files = self.e.store.files(src_ref.repo, src_ref.id, src_path)
            if not files:
                raise status.file_not_found(src_ref.repo, src_ref.id, src_path)
            pairs = [("" if f.path == src_path else f.path[len(src_path.rstrip("/")):], f.hash) for f in files]
            self.open.copy(staged, clean_path(value.dst), pairs, value.append)
        else:
            raise status.unimplemented("ModifyFile", f"the {op} operation")

    # -- reading ---------------------------------------------------------------------------------
    def InspectFile(self, request: pfs.InspectFileRequest, context) -> pfs.FileInfo:
        ref, path = self.refs.file(request.file)
        return self._entry(self._readable(ref), path).info(ref)

    def ListFile(self, request: pfs.ListFileRequest, context):
        ref, path = self.refs.file(request.file)
        self._readable(ref)
        entry = self._entry(ref, path)
        if entry.kind == "file":
            yield entry.info(ref)
            return
        entries = self._entries(ref, path)
        depth = 0 if path == "/" else path.count("/")
        kids = sorted((e for p, e in entries.items() if p != path and p.count("/") == depth + 1), key=lambda e: e.path)
        if request.reverse:
            kids.reverse()
        if request.number:
            kids = kids[:request.number]
        for e in kids:
            yield e.info(ref)

    def WalkFile(self, request: pfs.WalkFileRequest, context):
        ref, path = self.refs.file(request.file)
        self._readable(ref)
        self._entry(ref, path)
        entries = sorted(self._entries(ref, path).values(), key=lambda e: e.path)
        entries = [e for e in entries if e.path == path or e.path.startswith(path.rstrip("/") + "/")]
        if request.reverse:
            entries.reverse()
        for e in entries[:request.number or None]:
            yield e.info(ref)

    def GlobFile(self, request: pfs.GlobFileRequest, context):
        ref = self._readable(self.refs.commit(request.commit))
        entries = self._entries(ref)
        try:
            matched = glob_paths(request.pattern or "/", [p for p, e in entries.items() if e.kind == "file"])
        except GlobError as e:
            raise status.unknown(str(e)) from None
        for p in matched:
            yield (entries.get(p) or Entry("/", "dir", sum(e.size for e in entries.values() if e.kind == "file"))).info(ref)

    def _matched_files(self, ref: Ref, path: str) -> list[Entry]:
        """What a GetFile path names: a file, a directory's files, or a glob's matches."""
        entries = self._entries(ref)
        if path in entries or path == "/":
            return [e for p, e in sorted(entries.items()) if e.kind == "file"
                    and (p == path or path == "/" or p.startswith(path + "/"))]
        try:
            matched = glob_paths(path, [p for p, e in entries.items() if e.kind == "file"])
        except GlobError:
            matched = []
        if not matched:
            raise status.file_not_found(ref.repo, ref.id, path)
        return [e for p, e in sorted(entries.items()) if e.kind == "file"
                and any(p == m or p.startswith(m + "/") for m in matched)]

    def GetFile(self, request: pfs.GetFileRequest, context):
        ref, path = self.refs.file(request.file)
        self._readable(ref)
        if request.url:
            raise status.unimplemented("GetFile", "writing to a URL (egress)")
        entries = self._entries(ref)
        hit = entries.get(path)
        if hit is None:
            files = self._matched_files(ref, path)
            if len(files) > 1:
                raise status.unknown("matched multiple files. Use GetFileTAR instead")
            hit = files[0]
        if hit.kind != "file":
            raise status.unknown("cannot get directory or non-regular file. Use GetFileTAR instead")
        with self.e.store.objects.open(hit.hash) as f:
            f.seek(request.offset or 0)
            while piece := f.read(PIECE):
                yield _bytes(piece)

    def GetFileTAR(self, request: pfs.GetFileRequest, context):
        """A tar stream written piece by piece (a member is never held in memory whole)."""
        ref, path = self.refs.file(request.file)
        self._readable(ref)
        for e in self._matched_files(ref, path):
            info = tarfile.TarInfo(e.path)  # pachd names members by their full path
            info.size, info.mode, info.mtime = e.size, 0o644, int(ref.commit.finished or 0)
            yield _bytes(info.tobuf(format=tarfile.PAX_FORMAT))
            with self.e.store.objects.open(e.hash) as f:
                while piece := f.read(PIECE):
                    yield _bytes(piece)
            if e.size % tarfile.BLOCKSIZE:
                yield _bytes(b"\0" * (tarfile.BLOCKSIZE - e.size % tarfile.BLOCKSIZE))
        yield _bytes(b"\0" * (2 * tarfile.BLOCKSIZE))  # end of archive

    def DiffFile(self, request: pfs.DiffFileRequest, context):
        new_ref, path = self.refs.file(request.new_file)
        self._readable(new_ref)
        if request.old_file and request.old_file.commit and (request.old_file.commit.id or request.old_file.commit.branch):
            old_ref, old_path = self.refs.file(request.old_file)
        else:
            parent = new_ref.commit.parent
            old_ref = Ref(new_ref.repo, parent, None, self.e.store.commit(new_ref.repo, parent)) if parent else None
            old_path = path
        new = self._entries(new_ref, path) if self._has(new_ref, path) else {}
        old = self._entries(old_ref, old_path) if old_ref and self._has(old_ref, old_path) else {}
        for p in sorted(set(new) | set(old)):
            a, b = new.get(p), old.get(p)
            if a and b and (a.kind, a.hash, a.size) == (b.kind, b.hash, b.size):
                continue
            if request.shallow and p.count("/") > max(path.count("/"), 0) + (0 if path == "/" else 1):
                continue
            yield pfs.DiffFileResponse(new_file=a.info(new_ref) if a else None,
                                       old_file=b.info(old_ref) if b else None)

    def _has(self, ref: Ref, path: str) -> bool:
        return path == "/" or bool(self.e.store.files(ref.repo, ref.id, path))


def _bytes(piece: bytes):
    from betterproto.lib.google.protobuf import BytesValue
    return BytesValue(value=piece)
