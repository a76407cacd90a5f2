package oci

import "github.com/berthrun/berth/internal/inputfile"

// ReadFile reads a file a caller hands berth-oci (config.json, exec's
// --process, update's --resources): a regular file of at most max bytes.
func ReadFile(path string, max int64) ([]byte, error) { return inputfile.Read(path, max) }
