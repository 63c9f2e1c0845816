"""vidlabel: label what happens where in a video archive with MoViNet on Apache Beam.

The repository keeps the layout users asked for (`pipeline/`, `transforms/`, `movinet/` at the top level) but
installs them as `vidlabel.pipeline` (with `vidlabel.pipeline.commands`), `vidlabel.transforms` and
`vidlabel.movinet`, so nobody's environment gains generic top-level modules named `pipeline` or `transforms`. The
same file stages the code onto Dataflow workers (`--setup_file ./setup.py`).
"""

import pathlib
import re

from setuptools import setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "pipeline" / "__init__.py").read_text()).group(1)

# Installed name -> folder in this repository (a package's sub-packages are listed too: setuptools needs each one).
PACKAGES = {
    "vidlabel.pipeline": "pipeline",
    "vidlabel.pipeline.commands": "pipeline/commands",
    "vidlabel.pipeline.report": "pipeline/report",
    "vidlabel.transforms": "transforms",
    "vidlabel.movinet": "movinet",
}
RUNTIME = [
    "apache-beam[gcp]>=2.77,<2.78",
    "tensorflow>=2.20,<2.22",
    "tensorflow-hub>=0.16.1,<0.17",
    "av>=14,<19",
    "pyarrow>=17",
    "google-cloud-storage>=2.18",
    "numpy>=1.26",
    "tqdm>=4.66",
    "ai-edge-litert>=2.0",  # LiteRT: runs the TFLite stream models (tf.lite.Interpreter is deprecated)
    "matplotlib>=3.8",  # `vidlabel plot`, the report's charts
    "pillow>=10",  # the thumbnails' JPEGs (matplotlib needs it too)
    "duckdb>=1.1",  # the demo (and the commands that read the tables) query the Parquet result with it
    "scikit-learn>=1.4",  # `vidlabel train-head`: logistic regression and cross-validation by video
    # tensorflow-hub 0.16 imports pkg_resources, which setuptools 81 removed.
    "setuptools>=70,<81",
]
EXTRAS = {
    # Model Garden builds and exports MoViNet models; it pins TensorFlow and pulls ~77 packages, so it stays out of
    # the runtime dependencies (workers that only label videos never need it).
    "export": ["tf-models-official>=2.20,<2.22"],
    "test": [
        "pytest>=8",
        "pytest-timeout>=2.3",
        "gcp-storage-emulator>=2024.8",
        "build>=1.2",
        "ruff>=0.17,<0.18",
        "pytest-xdist>=3.5",
        "sqlglot>=25",  # docs/sql.md: the BigQuery recipes must parse in BigQuery's dialect
        "google-cloud-videointelligence>=2.11",  # reads `vidlabel export-annotations` files with the official types
        "selenium>=4.20",  # drives Debian's chromium (installed by .ci/run) through the report's pages
    ],
}

setup(
    name="vidlabel",
    version=VERSION,
    description="Batch video-archive labelling with MoViNet on Apache Beam, written to Parquet.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"vidlabel.pipeline.report": ["assets/*"]},  # the report's pages, script and style
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["vidlabel = vidlabel.pipeline.cli:entry_point"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Operating System :: MacOS",
    ],
)
