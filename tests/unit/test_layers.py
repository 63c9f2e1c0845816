"""The layering rule of docs/architecture.md: no module of `transforms` or `movinet` imports `vidlabel.pipeline`,
at the top or inside a function, absolutely or relatively."""

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
LOWER_LAYERS = ("transforms", "movinet")


def imported_modules(path: pathlib.Path, package: str) -> set[str]:
    """Every module a file imports, relative imports resolved against its package (`vidlabel.<folder>`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from vidlabel import pipeline`
    return found


def test_imported_modules_sees_every_form_of_import(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import os\nfrom vidlabel import pipeline\ndef f():\n    from ..pipeline import plan\n    from . import clips\n"
    )
    found = imported_modules(source, "vidlabel.transforms")
    assert {"os", "vidlabel.pipeline", "vidlabel.pipeline.plan", "vidlabel.transforms.clips"} <= found


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layers_never_import_the_pipeline(layer):
    files = sorted((REPO / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}/"
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in modules if m.split(".")[:2] == ["vidlabel", "pipeline"])
        for path in files
        for modules in [imported_modules(path, f"vidlabel.{layer}")]
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}
