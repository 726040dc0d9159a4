"""The use cases a person calls: run / resume / cancel a run (:mod:`nirs_core.app.run`), train a
bundle (:mod:`~nirs_core.app.train`), predict with one (:mod:`~nirs_core.app.predict`), write the
demo dataset (:mod:`~nirs_core.app.demo`). The CLI and the Dagster assets call these."""
