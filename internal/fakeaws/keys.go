package fakeaws

// Keys returns every key the fake knows: users' long-term keys and every
// temporary credential set it issued (STS, IMDS, the container endpoint),
// so a test can check that none of their secrets leaked anywhere.
func (f *AWS) Keys() []*Key {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	out := make([]*Key, 0, len(f.store.keys))
	for _, k := range f.store.keys {
		out = append(out, &Key{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken,
			Expires: k.Expires, Principal: k.Principal, Account: k.Account})
	}
	return out
}
