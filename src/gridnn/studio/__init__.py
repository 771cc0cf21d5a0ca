"""gridnn studio: a local web app (Starlette on uvicorn) with a convolution playground and a page
that looks inside trained models. Every number the pages show comes from gridnn through the JSON
API; the pages compute nothing themselves. Needs the ``studio`` extra."""
