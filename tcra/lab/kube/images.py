"""The lab's container images, built with buildah from what Debian installed on this machine
and pushed to the lab's registry, as an operator builds images for a private registry.

No registry outside the machine answers, so every image starts from scratch: a root file
system holding only the program, the shared libraries `ldd` lists for it, and a few files of
configuration. buildah keeps its storage (vfs: no mounts) in the folder the lab gives it and
removes it once the images are pushed; TLS to the registry is verified against the lab's CA.

Debian's buildah 1.28 writes a blob-info cache to /var/lib/containers/cache whatever --root
says, so each buildah command runs in a mount namespace of its own in which /var/lib is
read-only: it falls back to a cache in memory, and nothing lands outside the lab's folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pydantic import Field

from tcra.lab.kube import registry
from tcra.lab.processes import LabError
from tcra.model.base import Model

KUBERNETES_VERSION = os.environ.get("TCRA_KUBERNETES_VERSION", "1.37.2")  # as build-kube
PAUSE_TAG = "3.10.2"  # the TAG of the pause Makefile in that Kubernetes release
PAUSE_IMAGE = f"{registry.ADDRESS}/tcra/pause:{PAUSE_TAG}"
HTTPD_TAG = "0.1.0"
MQTT_PORT = 1883
# httpd as PID 1 would ignore SIGTERM (no handler), and every pod's deletion would wait out its
# grace period: a shell that exits on SIGTERM runs it instead.
HTTPD_SCRIPT = ('trap "exit 0" TERM; /bin/busybox httpd -f -v -p {port} -h /www'
                ' -c /etc/httpd.conf & wait')
HTTPD_PORT = 8080
MOSQUITTO_USER = 1883  # the broker runs as this uid and gid, not root
NOBODY = 65534
PAUSE_USER = 65535  # as upstream's pause image
COMMAND_TIMEOUT = 300.0
Report = Callable[[str], None]
# buildah in a private mount namespace where /var/lib (and /var/lib/containers, if a mount of
# its own) is read-only. $0, the lab's folder, is bound over itself first, and /var/lib bound
# recursively, so the folder stays writable even when it is under /var/lib.
_ISOLATED = ('mount --bind "$0" "$0" && mount --rbind /var/lib /var/lib'
             ' && mount -o remount,bind,ro /var/lib'
             ' && if mountpoint -q /var/lib/containers;'
             ' then mount -o remount,bind,ro /var/lib/containers; fi && exec "$@"')


class LabImage(Model):
    """An image of the lab: its name in the registry and how it runs."""

    name: str = Field(description="Repository in the lab's registry, e.g. tcra/mosquitto.")
    tag: str
    entrypoint: tuple[str, ...]
    user: str = Field(description="uid:gid it runs as.")
    ports: tuple[int, ...] = ()

    @property
    def reference(self) -> str:
        return f"{registry.ADDRESS}/{self.name}:{self.tag}"


class Pushed(Model):
    """What `ensure` did for one image."""

    reference: str
    built: bool = Field(description="False when the registry already had this exact tag.")
    seconds: float = Field(description="Wall time to build and push it (0 when skipped).")


def _silent(_: str) -> None:
    pass


def ensure(folder: Path, ca: Path, *, pause_source: Path | None = None,
           report: Report = _silent) -> tuple[Pushed, ...]:
    """pause, mosquitto, opcua-gateway and chain-function in the lab's registry (which must
    be running): each built and pushed unless its exact tag is there already. buildah's
    storage is made in `folder` and removed before returning, with `folder` itself."""
    folder = folder.resolve()
    plan: list[tuple[LabImage, Callable[[Path], None]]] = [
        (pause_image(), lambda root: pause_rootfs(root, pause_source or pause_folder())),
        (mosquitto_image(), mosquitto_rootfs),
        (gateway_image(), partial(httpd_rootfs, service="opcua-gateway")),
        (function_image(), partial(httpd_rootfs, service="chain-function")),
    ]
    done: list[Pushed] = []
    remove(folder)  # what a killed `up` left behind
    try:
        for image, fill in plan:
            if image.tag in registry.tags(image.name, ca):
                report(f"images: {image.reference} is in the registry")
                done.append(Pushed(reference=image.reference, built=False, seconds=0.0))
                continue
            report(f"images: building {image.reference}")
            started = time.monotonic()
            _build(folder, ca, image, fill)
            done.append(Pushed(reference=image.reference, built=True,
                               seconds=round(time.monotonic() - started, 2)))
    finally:
        remove(folder)
    return tuple(done)


def pause_image() -> LabImage:
    return LabImage(name="tcra/pause", tag=PAUSE_TAG, entrypoint=("/pause",),
                    user=f"{PAUSE_USER}:{PAUSE_USER}")


def mosquitto_image() -> LabImage:
    """Tagged with mosquitto's upstream version (2.0.11 of Debian's 2.0.11-1.2+deb12u2): the
    broker chart's default tag then holds across Debian's security updates."""
    return LabImage(name="tcra/mosquitto", tag=_tag(upstream(_package_version("mosquitto"))),
                    entrypoint=("/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"),
                    user=f"{MOSQUITTO_USER}:{MOSQUITTO_USER}", ports=(MQTT_PORT,))


def gateway_image() -> LabImage:
    return _httpd_image("tcra/opcua-gateway")


def function_image() -> LabImage:
    """A chain's function (charts/chain-function): what the chain steers through it is the
    kernel's to forward or answer; it serves its status like the gateway."""
    return _httpd_image("tcra/chain-function")


def _httpd_image(name: str) -> LabImage:
    return LabImage(name=name, tag=HTTPD_TAG,
                    entrypoint=("/bin/busybox", "sh", "-c",
                                HTTPD_SCRIPT.format(port=HTTPD_PORT)),
                    user=f"{NOBODY}:{NOBODY}", ports=(HTTPD_PORT,))


def pause_folder() -> Path:
    """pause.c's folder in the Kubernetes module that build-kube downloaded."""
    folder = (Path(_run(["go", "env", "GOMODCACHE"])) / f"k8s.io/kubernetes@v{KUBERNETES_VERSION}"
              / "build/pause/linux")
    if not (folder / "pause.c").exists():
        raise LabError(f"{folder}/pause.c is missing: run scripts/build-kube kubernetes with"
                       " the same GOMODCACHE")
    return folder


def pause_rootfs(root: Path, source: Path) -> None:
    """Kubernetes' pause, compiled static as upstream does (it has no libc in its image)."""
    root.mkdir(parents=True, exist_ok=True)
    _run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-s", f"-DVERSION=v{PAUSE_TAG}",
          "-o", str(root / "pause"), str(source / "pause.c")])


def mosquitto_rootfs(root: Path) -> None:
    """The host's broker with its libraries and loader. It runs as a plain user from the
    start (the image's user), so it never needs to look a user up or drop privileges."""
    program = Path("/usr/sbin/mosquitto")
    for path in (program, *_libraries(program)):
        _copy(path, root)
    _accounts(root, ("mosquitto", MOSQUITTO_USER))
    _write(root / "etc/mosquitto/mosquitto.conf",
           # In the pod's own network namespace 0.0.0.0 is the pod's address only.
           f"listener {MQTT_PORT} 0.0.0.0\nallow_anonymous true\npersistence false\n"
           "log_dest stdout\n")


def httpd_rootfs(root: Path, service: str) -> None:
    """A stand-in for `service`: busybox's httpd serving a status document at / and /healthz
    (Debian's busybox-static needs no libraries; its `ip` sets a pod's addresses up)."""
    _copy(Path("/bin/busybox"), root)
    _accounts(root)
    status = json.dumps({"service": service, "status": "ok"}) + "\n"
    _write(root / "www/status.json", status)
    _write(root / "www/healthz", "ok\n")
    _write(root / "etc/httpd.conf", "I:status.json\n.json:application/json\n")


def _build(folder: Path, ca: Path, image: LabImage, fill: Callable[[Path], None]) -> None:
    """Root file system, then buildah: from scratch, copy, config, commit straight to the
    registry (no local image is kept)."""
    root = folder / "rootfs" / image.name.replace("/", "-")
    shutil.rmtree(root, ignore_errors=True)
    fill(root)
    buildah = _Buildah(folder, ca)
    container = buildah("from", "--name", f"tcra-{image.name.replace('/', '-')}", "scratch")
    try:
        buildah("copy", container, f"{root}/", "/")
        config = ["config", "--entrypoint", json.dumps(list(image.entrypoint)),
                  "--user", image.user, "--workingdir", "/",
                  "--label", f"org.opencontainers.image.version={image.tag}",
                  "--label", "org.opencontainers.image.vendor=tcra lab"]
        for port in image.ports:
            config += ["--port", f"{port}/tcp"]
        buildah(*config, container)
        buildah("commit", "--rm", "--format", "oci", "--signature-policy",
                str(buildah.policy), "--cert-dir", str(buildah.certs), container,
                f"docker://{image.reference}")
    except LabError:
        buildah("rm", container, check=False)
        raise


class _Buildah:
    """buildah with its storage, temporary files and configuration in `folder` only."""

    def __init__(self, folder: Path, ca: Path) -> None:
        self.folder = folder
        self.certs = folder / "certs"
        self.policy = folder / "policy.json"
        self.certs.mkdir(parents=True, exist_ok=True)
        (folder / "tmp").mkdir(exist_ok=True)
        shutil.copyfile(ca, self.certs / "ca.crt")  # containers/image reads *.crt as CAs
        self.policy.write_text('{"default": [{"type": "reject"}], "transports": {"docker":'
                               ' {"": [{"type": "insecureAcceptAnything"}]}}}\n')
        (folder / "registries.conf").write_text("unqualified-search-registries = []\n")
        (folder / "containers.conf").write_text("")
        (folder / "auth.json").write_text('{"auths": {}}\n')  # no credentials: none needed
        self.env = {**os.environ, "TMPDIR": str(folder / "tmp"),
                    "REGISTRY_AUTH_FILE": str(folder / "auth.json"),
                    "CONTAINERS_REGISTRIES_CONF": str(folder / "registries.conf"),
                    "CONTAINERS_CONF": str(folder / "containers.conf")}

    def __call__(self, *args: str, check: bool = True) -> str:
        return _run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec",
                     _ISOLATED, str(self.folder), "buildah", "--root",
                     str(self.folder / "storage"), "--runroot", str(self.folder / "run"),
                     "--storage-driver", "vfs", *args], env=self.env, check=check,
                    name=f"buildah {args[0]}")


def remove(folder: Path) -> None:
    """Remove buildah's folder; refuse if anything is mounted under it (vfs mounts nothing,
    so that would be someone else's)."""
    if not folder.exists():
        return
    inside = mounts_under(folder)
    if inside:
        raise LabError(f"{folder}: still mounted under it: {', '.join(map(str, inside))}")
    shutil.rmtree(folder)


def mounts_under(folder: Path) -> list[Path]:
    """Mount points at or under `folder`, from this process's mount table."""
    top = folder.resolve()
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        if point == top or top in point.parents:
            found.append(point)
    return found


def _libraries(program: Path) -> list[Path]:
    """The shared objects `ldd` resolves for `program`, and the loader."""
    listed = _run(["ldd", str(program)])
    if "not found" in listed:
        raise LabError(f"ldd {program}: {listed}")
    return [Path(word) for line in listed.splitlines() for word in line.split()
            if word.startswith("/")]


def _copy(path: Path, root: Path) -> None:
    """The file's content (through symlinks) at the same path under `root`."""
    target = root / path.relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)


def _accounts(root: Path, *users: tuple[str, int]) -> None:
    """A minimal /etc/passwd and /etc/group: root, nobody and the image's own users."""
    entries = [("root", 0), *users, ("nobody", NOBODY)]
    _write(root / "etc/passwd", "".join(f"{name}:x:{uid}:{uid}:{name}:/nonexistent:"
                                        "/usr/sbin/nologin\n" for name, uid in entries))
    _write(root / "etc/group", "".join(f"{'nogroup' if gid == NOBODY else name}:x:{gid}:\n"
                                       for name, gid in entries))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _package_version(package: str) -> str:
    version = _run(["dpkg-query", "-W", "-f", "${Version}", package])
    if not version:
        raise LabError(f"dpkg-query {package}: not installed")
    return version


def upstream(version: str) -> str:
    """A Debian version without its epoch and Debian revision."""
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def _tag(version: str) -> str:
    """A version as an image tag: `+` and other characters a tag does not allow become `_`
    (a tag allows letters, digits, `_`, `.` and `-`; helm maps `+` to `_` the same way)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", version)[:128]


def _run(command: list[str], *, env: dict[str, str] | None = None, check: bool = True,
         name: str | None = None) -> str:
    """A command's standard output; its failure, or its running too long, as a LabError."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env,
                              timeout=COMMAND_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LabError(f"{name or command[0]}: {error}") from error
    if check and done.returncode != 0:
        raise LabError(f"{name or command[0]}: {done.stderr.strip()[-2000:] or done.returncode}")
    return done.stdout.strip()
