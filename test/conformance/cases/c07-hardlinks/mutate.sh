ln a.txt b.txt && ln dir/x.txt dir/y.txt && ln a.txt dir/a-again.txt
