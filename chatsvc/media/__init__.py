"""Handling uploaded bytes, with no rules of who may do what: the upload spool (size limit,
SHA-256 while streaming), content sniffing and safe file names, and images (inspection,
thumbnails, avatars) with Pillow."""
