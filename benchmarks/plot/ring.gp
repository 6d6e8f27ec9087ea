# ring.gp: messages/s against message size, the shm ring variants (solid)
# against the kernel baselines (dashed), medians with min-max bars.
# Driven by run.py: gnuplot -e "datafile='..'; outfile='..'; titletext='..';
#   names='ring ring_burst .. pipe unix'; nring='4'" ring.gp
# datafile holds one block per transport, in the order of `names`:
#   size  median_msgs_per_s  min  max
if (!exists("nring")) nring = '0'
set terminal pngcairo size 1000,640 noenhanced font ",10"
set output outfile
set title titletext
set logscale x 2
set logscale y 10
set xlabel "message size (bytes)"
set ylabel "messages per second (median; bars: min-max of runs)"
set format y "%.0s%c"
set grid xtics ytics mytics
set key outside right top
set xtics (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
set autoscale xfix
set offsets graph 0.05, graph 0.05, 0, 0
# Nudge each transport sideways a little so the min-max bars do not overlap.
n = words(names)
shift(i) = 2 ** ((i - (n + 1) / 2.0) * 0.035)
set errorbars small
plot for [i=1:n] datafile index (i-1) using ($1 * shift(i)):2:3:4 \
     with yerrorlines lw 2 pt 7 ps 0.8 dt 1+(i > int(nring)) title word(names, i)
