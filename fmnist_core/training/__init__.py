"""Training: the one fit loop, a run's live state (`TrainingJob`), the class's queue, and
where a run trains (a thread, a worker process, an actor on a Ray cluster)."""
