package blob

// SetS3CopySizes lowers the sizes above which, and in which parts, S3
// commits copy blobs into place with a multipart copy, so tests reach that
// path with small blobs.
func SetS3CopySizes(s *S3, threshold, part int64) {
	s.copyThreshold, s.copyPartSize = threshold, part
}

// S3UploadParts reports how many multipart parts and tail bytes an S3
// upload state holds.
func S3UploadParts(state UploadState) (parts int, tail int64, err error) {
	st, err := decodeS3State("test", state)
	if err != nil {
		return 0, 0, err
	}
	if st.Tail != nil {
		tail = st.Tail.Size
	}
	return len(st.Parts), tail, nil
}
