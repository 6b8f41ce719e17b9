"""symbolic_automl: AutoML by symbolic programming on Keras, in the style of PyGlove."""

import setuptools

setuptools.setup(
    name="symbolic_automl",
    version="0.1.0",
    description=(
        "Search over Keras models by annotating them with PyGlove hyper-values; "
        "plug-in search algorithms, durable SQLite trial records, weight sharing."
    ),
    python_requires=">=3.10",
    # spaces/ and algorithms/ sit at the top of the repository but install under
    # the one import root `symbolic_automl.`.
    packages=(
        setuptools.find_packages(include=["symbolic_automl", "symbolic_automl.*"])
        + ["symbolic_automl.spaces"]
        + ["symbolic_automl.spaces." + p for p in setuptools.find_packages("spaces")]
        + ["symbolic_automl.algorithms"]
        + ["symbolic_automl.algorithms." + p for p in setuptools.find_packages("algorithms")]
    ),
    # The dashboard's page (HTML, CSS and JS in one file).
    package_data={"symbolic_automl.reporting": ["static/*.html"]},
    package_dir={
        "symbolic_automl.spaces": "spaces",
        "symbolic_automl.algorithms": "algorithms",
    },
    install_requires=[
        "pyglove>=0.4.4",
        "tensorflow>=2.16",
        "numpy",
        "absl-py",
        "tqdm",
    ],
    extras_require={
        # Offline data for the demos and tests (scikit-learn's bundled digits), plots.
        "demos": ["scikit-learn", "matplotlib"],
        # jax: the tests run our Keras code on the JAX backend too (in subprocesses).
        # ray: the Ray executor's tests run on a local Ray. pytest-xdist: two test processes.
        "test": ["scikit-learn", "matplotlib", "pytest", "pytest-timeout", "pytest-xdist",
                 "nas-bench-graph",
                 "tensorboard", "selenium", "jax", "ray"],
        # TensorBoard HParams export (`search(tensorboard_dir=...)`, `symbolic-automl
        # tensorboard`); written without TensorFlow, read by TensorBoard.
        "tensorboard": ["tensorboard"],
        # Plots, the HTML report and the live dashboard (served by the standard library).
        "dashboard": ["matplotlib"],
        "benchmarks": ["optuna", "nas-bench-graph", "scikit-learn", "matplotlib"],
        # The JAX backend (KERAS_BACKEND=jax): weight-sharing steps, GPU throughput.
        "jax": ["jax"],
        # The Ray executor (`symbolic_automl.executors.Ray`): trials as Ray tasks.
        "ray": ["ray"],
    },
    entry_points={
        "console_scripts": ["symbolic-automl=symbolic_automl.cli:run_main"],
    },
)
