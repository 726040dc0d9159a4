"""The runtime DAG (the steps as actually executed, with their fitted artefacts) and its replay
on new spectra with the engine's own numpy kernels. Below the pipeline (which records graphs)
and the store (which writes them); imports only numpy and the kernels."""
