package auth

// SetBcryptHook lets tests observe how many hashes run at once.
func SetBcryptHook(b *Bcrypt, hook func() func()) { b.inSlot = hook }
