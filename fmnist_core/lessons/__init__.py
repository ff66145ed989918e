"""Lessons: the classic tutorials' exercises as a path, a guess before every run.

`catalog` holds the lessons as data; `answers` judges a guess against the runs' stored
results. Guesses and the class's lesson live in the run store (`fmnist_core.store.lessons`).
"""
