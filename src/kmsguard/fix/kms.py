"""The live side of a fix: read and write one key's policy through an injected KMS client,
with AWS errors turned into kmsguard errors that say what was (not) changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from kmsguard.errors import InputError, SourceError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

_NOT_FOUND = {"NotFoundException", "InvalidArnException", "KMSInvalidStateException"}


class KeyPolicyWriteError(SourceError):
    """AWS refused or failed a PutKeyPolicy call."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


class KeyPolicyClient:
    """GetKeyPolicy / PutKeyPolicy / DescribeKey for one region's KMS client."""

    def __init__(self, client: KMSClient) -> None:
        self._client = client

    def key_arn(self, key: str) -> str:
        try:
            return self._client.describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise InputError(f"no KMS key `{key}`: {_code(exc)}") from exc
            # DescribeKey can be denied while the policy is readable: keep the ARN as given
            if key.startswith("arn:"):
                return key
            raise SourceError(f"cannot describe `{key}`: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise SourceError(f"cannot reach KMS for `{key}`: {exc}") from exc

    def read(self, key: str) -> str:
        try:
            return self._client.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise InputError(f"no KMS key `{key}`: {_code(exc)}") from exc
            raise SourceError(
                f"cannot read the policy of `{key}`: {_code(exc)}",
                hint="kmsguard needs kms:GetKeyPolicy on the key",
            ) from exc
        except BotoCoreError as exc:
            raise SourceError(f"cannot read the policy of `{key}`: {exc}") from exc

    def write(self, key: str, policy: str, *, saved: str) -> None:
        """PutKeyPolicy; `saved` says where the previous policy is kept (for the message)."""
        try:
            self._client.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
        except ClientError as exc:
            code = _code(exc)
            hint = f"the key policy was not changed; the previous policy is saved as {saved}"
            if code in ("AccessDeniedException", "AccessDenied"):
                raise KeyPolicyWriteError(
                    f"access denied: kms:PutKeyPolicy on `{key}`",
                    hint=hint + "; run with credentials that may manage the key",
                ) from exc
            message = str(exc.response.get("Error", {}).get("Message", ""))
            raise KeyPolicyWriteError(
                f"kms:PutKeyPolicy on `{key}` failed: {code} {message}".strip(), hint=hint
            ) from exc
        except BotoCoreError as exc:
            raise KeyPolicyWriteError(
                f"kms:PutKeyPolicy on `{key}` did not complete: {exc}",
                hint=f"check the live policy with `aws kms get-key-policy`; the previous "
                f"policy is saved as {saved}",
            ) from exc
