"""The run store: runs, epochs, the queue's line, owners and servers in SQLite or
PostgreSQL, the model files beside them, signed owner tokens and the teacher's passcode, and
the class as a teacher sees it."""
