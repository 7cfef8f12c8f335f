"""精算: what actuaries work from. ``extract`` gives a plan's settlements at record level without identities
(pseudonymous person keys, age bands, the city instead of the county, small cells generalised); pricing a
candidate plan and estimating claims incurred but not reported build on its frames."""
