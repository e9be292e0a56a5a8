//go:build !js

package tunnel

import "golang.org/x/crypto/ssh"

// defaultCiphers puts AES-GCM first: with hardware AES it is about 2.5x
// faster than ChaCha20-Poly1305 in Go (loopback: ~900 vs ~340 MB/s).
var defaultCiphers = []string{
	ssh.CipherAES128GCM,
	ssh.CipherAES256GCM,
	ssh.CipherChaCha20Poly1305,
	ssh.CipherAES128CTR,
	ssh.CipherAES192CTR,
	ssh.CipherAES256CTR,
}
