"""An S3-compatible blob store (AWS S3, SeaweedFS, MinIO, Ceph...), through boto3.

Objects are keyed ``blobs/<sha256>``. An S3 PUT is atomic by the protocol (an object
appears whole or not at all), so no staging is needed here; large files go up in parts
(boto3's managed transfer), each part streamed from the local file.
"""
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from chatsvc.blobs import BlobNotFound, check_name


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3BlobStore:
    # Network I/O, cooperative under gevent: run it in the calling greenlet, never in a
    # native thread (chat/files.py offloads only stores whose I/O blocks).
    blocking_io = False
    # One part after another in the calling greenlet (boto3's own threads would be native).
    _TRANSFER = TransferConfig(use_threads=False, multipart_threshold=16 << 20, multipart_chunksize=16 << 20)

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str,
                 region: str = "us-east-1"):
        self.bucket = bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name=region,
            config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                              signature_version="s3v4"))

    @staticmethod
    def key(sha256: str) -> str:
        return "blobs/" + check_name(sha256)

    def ensure_bucket(self):
        """Create the bucket when it does not exist yet (first start of a deployment)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, sha256: str, src_path: str) -> None:
        if self.exists(sha256):
            return
        self.client.upload_file(src_path, self.bucket, self.key(sha256), Config=self._TRANSFER)

    def open(self, sha256: str):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(sha256) from None
            raise

    def exists(self, sha256: str) -> bool:
        try:
            self.size(sha256)
            return True
        except BlobNotFound:
            return False

    def size(self, sha256: str) -> int:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))["ContentLength"]
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(sha256) from None
            raise

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    _DELETE_BATCH = 1000   # the most keys one DeleteObjects request takes

    def delete_many(self, names: list[str]) -> None:
        keys = [{"Key": self.key(n)} for n in names]
        for i in range(0, len(keys), self._DELETE_BATCH):
            resp = self.client.delete_objects(Bucket=self.bucket,
                                              Delete={"Objects": keys[i:i + self._DELETE_BATCH], "Quiet": True})
            if resp.get("Errors"):
                raise RuntimeError(f"S3 refused deleting blobs: {resp['Errors'][0]}")
