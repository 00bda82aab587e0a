//! Skills-based automatic call distribution, agent states, statistics and Erlang C staffing.
