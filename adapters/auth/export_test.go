package auth

// SetBcryptHook lets tests observe how many hashes run at once.
func SetBcryptHook(b *Bcrypt, hook func() func()) { b.inSlot = hook }

// SetTopUpHook lets tests see the cost of each top-up hash a mismatch runs.
func SetTopUpHook(b *Bcrypt, hook func(cost int)) { b.topUp = hook }
