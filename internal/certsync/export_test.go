package certsync

// SetFailpoint lets the external tests simulate a crash at a step of
// Writer.Write.
func SetFailpoint(w *Writer, f func(step string) error) { w.failpoint = f }
