"""Textbook results in closed form, for the app to draw beside what the engine measures.

    rates     convergence rates and stability thresholds of gradient descent and heavy-ball
              momentum on a quadratic (Goh, "Why Momentum Really Works", Distill 2017)
    saddle    gradient descent at the saddle x^2 - y^2: the exact path, the escape time and the
              spread that gradient noise adds (Lee et al. 2016; Jin et al. 2017)
    measured  what is read off a trajectory: fitted rates, first escape steps
    report    the rows the theory panel shows: each optimizer of a Result, measured and predicted

Nothing here imports Streamlit or Plotly; `rates`, `saddle` and `measured` need only NumPy.
"""
