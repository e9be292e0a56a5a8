package tunnel

import "golang.org/x/crypto/ssh"

// defaultCiphers puts ChaCha20-Poly1305 first: WebAssembly has no AES
// instructions, and in Chromium it is about 2.3x faster than AES-GCM
// (94 vs 40 MB/s end to end).
var defaultCiphers = []string{
	ssh.CipherChaCha20Poly1305,
	ssh.CipherAES128GCM,
	ssh.CipherAES256GCM,
	ssh.CipherAES128CTR,
	ssh.CipherAES192CTR,
	ssh.CipherAES256CTR,
}
