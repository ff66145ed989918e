"""The pictures: the datasets on disk, the batches a fit is fed, samples for the pages, and
any user's picture turned into the 28×28 image a network sees."""
