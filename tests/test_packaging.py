"""The package as users get it: an sdist and a wheel built from this tree, the wheel installed into a fresh
virtualenv, every module imported from there, and a decoder child process started by module name from it."""

import ast
import pathlib
import re
import subprocess
import sys
import sysconfig
import textwrap

from conftest import VIDEOS

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = (
    "vidlabel.pipeline",
    "vidlabel.pipeline.commands",
    "vidlabel.pipeline.report",
    "vidlabel.transforms",
    "vidlabel.movinet",
)


def test_the_wheel_installs_and_every_module_imports_and_decodes_from_it(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("vidlabel-*.whl")
    [sdist] = dist.glob("vidlabel-*.tar.gz")
    listed = subprocess.run(["tar", "tzf", str(sdist)], check=True, capture_output=True, text=True).stdout
    assert "/movinet/source.py" in listed and "/pipeline/commands/plot.py" in listed and "/setup.py" in listed

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages (a path line, which does not run its .pth
    # files, so this checkout's editable install stays out); vidlabel itself only from the wheel.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (pathlib.Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )

    script = textwrap.dedent(f"""
        import importlib, pkgutil
        from vidlabel.transforms.decode import DecodeClips
        from vidlabel.transforms.types import ClipSpec, VideoFile, VideoInfo
        for package in {PACKAGES!r}:
            module = importlib.import_module(package)
            assert module.__file__.startswith({site!r}), module.__file__
            for info in pkgutil.iter_modules(module.__path__):
                importlib.import_module(f"{{package}}.{{info.name}}")
        from vidlabel.pipeline.report import site
        import os
        assert all(os.path.isfile(os.path.join(site.ASSETS, page)) for page in site.PAGES), site.ASSETS
        dofn = DecodeClips(ClipSpec(fps=5, resolution=32, clip_frames=10, stride_frames=10))
        dofn.setup()  # the decoder child: `python -m vidlabel.transforms.sandbox`, from the wheel
        out = list(dofn.process(VideoFile({str(VIDEOS / "bbb_vp8_vorbis_1s.webm")!r}, None, None)))
        dofn.teardown()
        info = out[-1].value
        assert isinstance(info, VideoInfo) and info.num_clips == len(out) - 1 >= 1, out[-1]
        print("ok", info.num_clips)
    """)
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-3000:]
    entry = subprocess.run([str(venv / "bin" / "vidlabel"), "--version"], capture_output=True, text=True)
    assert entry.returncode == 0 and entry.stdout.startswith("vidlabel "), entry.stderr


def test_the_worker_image_copies_every_package_setup_py_installs():
    """docker/Dockerfile copies the source folders one by one; a package missing there would install a broken
    worker image (Cloud Build is not run here)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    [packages] = [node.value for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "PACKAGES"]
    folders = {ast.literal_eval(value).split("/")[0] for value in packages.values}
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "docker" / "Dockerfile").read_text(), re.MULTILINE))
    assert folders == {"pipeline", "transforms", "movinet"} and folders <= copied
